import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_TYPE_UNSPECIFIED: _ClassVar[DataType]
    DATA_TYPE_BOOL: _ClassVar[DataType]
    DATA_TYPE_INT8: _ClassVar[DataType]
    DATA_TYPE_INT16: _ClassVar[DataType]
    DATA_TYPE_INT32: _ClassVar[DataType]
    DATA_TYPE_INT64: _ClassVar[DataType]
    DATA_TYPE_UINT8: _ClassVar[DataType]
    DATA_TYPE_UINT16: _ClassVar[DataType]
    DATA_TYPE_UINT32: _ClassVar[DataType]
    DATA_TYPE_UINT64: _ClassVar[DataType]
    DATA_TYPE_FP8E4M3: _ClassVar[DataType]
    DATA_TYPE_FP8E5M2: _ClassVar[DataType]
    DATA_TYPE_FP16: _ClassVar[DataType]
    DATA_TYPE_FP32: _ClassVar[DataType]
    DATA_TYPE_FP64: _ClassVar[DataType]
    DATA_TYPE_STRING: _ClassVar[DataType]

class StoreKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STORE_KIND_UNSPECIFIED: _ClassVar[StoreKind]
    STORE_KIND_REDIS: _ClassVar[StoreKind]
    STORE_KIND_DRAGONFLY: _ClassVar[StoreKind]
    STORE_KIND_SCYLLA: _ClassVar[StoreKind]

class RejectCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECT_CODE_UNSPECIFIED: _ClassVar[RejectCode]
    REJECT_CODE_INVALID_ARGUMENT: _ClassVar[RejectCode]
    REJECT_CODE_STALE_REVISION: _ClassVar[RejectCode]
    REJECT_CODE_NOT_FOUND: _ClassVar[RejectCode]
    REJECT_CODE_ALREADY_EXISTS: _ClassVar[RejectCode]
    REJECT_CODE_INCOMPATIBLE_CHANGE: _ClassVar[RejectCode]
    REJECT_CODE_LIMIT_EXCEEDED: _ClassVar[RejectCode]
    REJECT_CODE_IN_USE: _ClassVar[RejectCode]
DATA_TYPE_UNSPECIFIED: DataType
DATA_TYPE_BOOL: DataType
DATA_TYPE_INT8: DataType
DATA_TYPE_INT16: DataType
DATA_TYPE_INT32: DataType
DATA_TYPE_INT64: DataType
DATA_TYPE_UINT8: DataType
DATA_TYPE_UINT16: DataType
DATA_TYPE_UINT32: DataType
DATA_TYPE_UINT64: DataType
DATA_TYPE_FP8E4M3: DataType
DATA_TYPE_FP8E5M2: DataType
DATA_TYPE_FP16: DataType
DATA_TYPE_FP32: DataType
DATA_TYPE_FP64: DataType
DATA_TYPE_STRING: DataType
STORE_KIND_UNSPECIFIED: StoreKind
STORE_KIND_REDIS: StoreKind
STORE_KIND_DRAGONFLY: StoreKind
STORE_KIND_SCYLLA: StoreKind
REJECT_CODE_UNSPECIFIED: RejectCode
REJECT_CODE_INVALID_ARGUMENT: RejectCode
REJECT_CODE_STALE_REVISION: RejectCode
REJECT_CODE_NOT_FOUND: RejectCode
REJECT_CODE_ALREADY_EXISTS: RejectCode
REJECT_CODE_INCOMPATIBLE_CHANGE: RejectCode
REJECT_CODE_LIMIT_EXCEEDED: RejectCode
REJECT_CODE_IN_USE: RejectCode

class Value(_message.Message):
    __slots__ = ("bool_value", "int_value", "uint_value", "float_value", "string_value")
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    UINT_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    bool_value: bool
    int_value: int
    uint_value: int
    float_value: float
    string_value: str
    def __init__(self, bool_value: _Optional[bool] = ..., int_value: _Optional[int] = ..., uint_value: _Optional[int] = ..., float_value: _Optional[float] = ..., string_value: _Optional[str] = ...) -> None: ...

class ObjectMeta(_message.Message):
    __slots__ = ("create_revision", "mod_revision", "created_at", "updated_at", "updated_by")
    CREATE_REVISION_FIELD_NUMBER: _ClassVar[int]
    MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    create_revision: int
    mod_revision: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, create_revision: _Optional[int] = ..., mod_revision: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class Registry(_message.Message):
    __slots__ = ("revision", "stores", "entities", "feature_groups", "deleted_feature_groups")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    DELETED_FEATURE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    revision: int
    stores: _containers.RepeatedCompositeFieldContainer[Store]
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    feature_groups: _containers.RepeatedCompositeFieldContainer[FeatureGroup]
    deleted_feature_groups: _containers.RepeatedCompositeFieldContainer[DeletedFeatureGroup]
    def __init__(self, revision: _Optional[int] = ..., stores: _Optional[_Iterable[_Union[Store, _Mapping]]] = ..., entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., feature_groups: _Optional[_Iterable[_Union[FeatureGroup, _Mapping]]] = ..., deleted_feature_groups: _Optional[_Iterable[_Union[DeletedFeatureGroup, _Mapping]]] = ...) -> None: ...

class Store(_message.Message):
    __slots__ = ("id", "kind", "connection", "meta")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: StoreKind
    connection: str
    meta: ObjectMeta
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[StoreKind, str]] = ..., connection: _Optional[str] = ..., meta: _Optional[_Union[ObjectMeta, _Mapping]] = ...) -> None: ...

class KeyColumn(_message.Message):
    __slots__ = ("name", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: DataType
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[DataType, str]] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("name", "key_columns", "description", "tags", "meta")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    name: str
    key_columns: _containers.RepeatedCompositeFieldContainer[KeyColumn]
    description: str
    tags: _containers.ScalarMap[str, str]
    meta: ObjectMeta
    def __init__(self, name: _Optional[str] = ..., key_columns: _Optional[_Iterable[_Union[KeyColumn, _Mapping]]] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., meta: _Optional[_Union[ObjectMeta, _Mapping]] = ...) -> None: ...

class CachePolicy(_message.Message):
    __slots__ = ("l1", "l2", "ttl")
    L1_FIELD_NUMBER: _ClassVar[int]
    L2_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    l1: bool
    l2: bool
    ttl: _duration_pb2.Duration
    def __init__(self, l1: _Optional[bool] = ..., l2: _Optional[bool] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Feature(_message.Message):
    __slots__ = ("name", "type", "vector_length", "default_value", "description", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_LENGTH_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: DataType
    vector_length: int
    default_value: Value
    description: str
    tags: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[DataType, str]] = ..., vector_length: _Optional[int] = ..., default_value: _Optional[_Union[Value, _Mapping]] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class FeatureGroupVersion(_message.Message):
    __slots__ = ("number", "revision", "created_at", "features")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    number: int
    revision: int
    created_at: _timestamp_pb2.Timestamp
    features: _containers.RepeatedCompositeFieldContainer[Feature]
    def __init__(self, number: _Optional[int] = ..., revision: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., features: _Optional[_Iterable[_Union[Feature, _Mapping]]] = ...) -> None: ...

class FeatureGroup(_message.Message):
    __slots__ = ("id", "name", "entity", "store", "ttl", "cache_policy", "description", "tags", "versions", "meta")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    CACHE_POLICY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    entity: str
    store: str
    ttl: _duration_pb2.Duration
    cache_policy: CachePolicy
    description: str
    tags: _containers.ScalarMap[str, str]
    versions: _containers.RepeatedCompositeFieldContainer[FeatureGroupVersion]
    meta: ObjectMeta
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., entity: _Optional[str] = ..., store: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cache_policy: _Optional[_Union[CachePolicy, _Mapping]] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., versions: _Optional[_Iterable[_Union[FeatureGroupVersion, _Mapping]]] = ..., meta: _Optional[_Union[ObjectMeta, _Mapping]] = ...) -> None: ...

class DeletedFeatureGroup(_message.Message):
    __slots__ = ("id", "name", "entity", "delete_revision", "deleted_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    DELETE_REVISION_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    entity: str
    delete_revision: int
    deleted_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., entity: _Optional[str] = ..., delete_revision: _Optional[int] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("request_id", "actor", "expected_revision", "apply_store", "delete_store", "apply_entity", "delete_entity", "apply_feature_group", "delete_feature_group", "add_features", "remove_features", "set_defaults", "set_ttl", "set_cache_policy")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_REVISION_FIELD_NUMBER: _ClassVar[int]
    APPLY_STORE_FIELD_NUMBER: _ClassVar[int]
    DELETE_STORE_FIELD_NUMBER: _ClassVar[int]
    APPLY_ENTITY_FIELD_NUMBER: _ClassVar[int]
    DELETE_ENTITY_FIELD_NUMBER: _ClassVar[int]
    APPLY_FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    DELETE_FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    ADD_FEATURES_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FEATURES_FIELD_NUMBER: _ClassVar[int]
    SET_DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    SET_TTL_FIELD_NUMBER: _ClassVar[int]
    SET_CACHE_POLICY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    actor: str
    expected_revision: int
    apply_store: ApplyStore
    delete_store: DeleteStore
    apply_entity: ApplyEntity
    delete_entity: DeleteEntity
    apply_feature_group: ApplyFeatureGroup
    delete_feature_group: DeleteFeatureGroup
    add_features: AddFeatures
    remove_features: RemoveFeatures
    set_defaults: SetDefaults
    set_ttl: SetTtl
    set_cache_policy: SetCachePolicy
    def __init__(self, request_id: _Optional[str] = ..., actor: _Optional[str] = ..., expected_revision: _Optional[int] = ..., apply_store: _Optional[_Union[ApplyStore, _Mapping]] = ..., delete_store: _Optional[_Union[DeleteStore, _Mapping]] = ..., apply_entity: _Optional[_Union[ApplyEntity, _Mapping]] = ..., delete_entity: _Optional[_Union[DeleteEntity, _Mapping]] = ..., apply_feature_group: _Optional[_Union[ApplyFeatureGroup, _Mapping]] = ..., delete_feature_group: _Optional[_Union[DeleteFeatureGroup, _Mapping]] = ..., add_features: _Optional[_Union[AddFeatures, _Mapping]] = ..., remove_features: _Optional[_Union[RemoveFeatures, _Mapping]] = ..., set_defaults: _Optional[_Union[SetDefaults, _Mapping]] = ..., set_ttl: _Optional[_Union[SetTtl, _Mapping]] = ..., set_cache_policy: _Optional[_Union[SetCachePolicy, _Mapping]] = ...) -> None: ...

class ApplyStore(_message.Message):
    __slots__ = ("id", "kind", "connection")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: StoreKind
    connection: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[StoreKind, str]] = ..., connection: _Optional[str] = ...) -> None: ...

class DeleteStore(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ApplyEntity(_message.Message):
    __slots__ = ("name", "key_columns", "description", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    key_columns: _containers.RepeatedCompositeFieldContainer[KeyColumn]
    description: str
    tags: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., key_columns: _Optional[_Iterable[_Union[KeyColumn, _Mapping]]] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class DeleteEntity(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ApplyFeatureGroup(_message.Message):
    __slots__ = ("name", "entity", "id", "store", "ttl", "cache_policy", "description", "tags", "features")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    CACHE_POLICY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    name: str
    entity: str
    id: int
    store: str
    ttl: _duration_pb2.Duration
    cache_policy: CachePolicy
    description: str
    tags: _containers.ScalarMap[str, str]
    features: _containers.RepeatedCompositeFieldContainer[Feature]
    def __init__(self, name: _Optional[str] = ..., entity: _Optional[str] = ..., id: _Optional[int] = ..., store: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., cache_policy: _Optional[_Union[CachePolicy, _Mapping]] = ..., description: _Optional[str] = ..., tags: _Optional[_Mapping[str, str]] = ..., features: _Optional[_Iterable[_Union[Feature, _Mapping]]] = ...) -> None: ...

class DeleteFeatureGroup(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AddFeatures(_message.Message):
    __slots__ = ("feature_group", "features")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    feature_group: str
    features: _containers.RepeatedCompositeFieldContainer[Feature]
    def __init__(self, feature_group: _Optional[str] = ..., features: _Optional[_Iterable[_Union[Feature, _Mapping]]] = ...) -> None: ...

class RemoveFeatures(_message.Message):
    __slots__ = ("feature_group", "names")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    feature_group: str
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, feature_group: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class FeatureDefault(_message.Message):
    __slots__ = ("feature", "value")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    feature: str
    value: Value
    def __init__(self, feature: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class SetDefaults(_message.Message):
    __slots__ = ("feature_group", "defaults")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    feature_group: str
    defaults: _containers.RepeatedCompositeFieldContainer[FeatureDefault]
    def __init__(self, feature_group: _Optional[str] = ..., defaults: _Optional[_Iterable[_Union[FeatureDefault, _Mapping]]] = ...) -> None: ...

class SetTtl(_message.Message):
    __slots__ = ("feature_group", "ttl")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    feature_group: str
    ttl: _duration_pb2.Duration
    def __init__(self, feature_group: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SetCachePolicy(_message.Message):
    __slots__ = ("feature_group", "cache_policy")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    CACHE_POLICY_FIELD_NUMBER: _ClassVar[int]
    feature_group: str
    cache_policy: CachePolicy
    def __init__(self, feature_group: _Optional[str] = ..., cache_policy: _Optional[_Union[CachePolicy, _Mapping]] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("request_id", "applied", "rejected")
    class Applied(_message.Message):
        __slots__ = ("revision", "noop", "feature_group_id", "feature_group_version", "mod_revision")
        REVISION_FIELD_NUMBER: _ClassVar[int]
        NOOP_FIELD_NUMBER: _ClassVar[int]
        FEATURE_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
        FEATURE_GROUP_VERSION_FIELD_NUMBER: _ClassVar[int]
        MOD_REVISION_FIELD_NUMBER: _ClassVar[int]
        revision: int
        noop: bool
        feature_group_id: int
        feature_group_version: int
        mod_revision: int
        def __init__(self, revision: _Optional[int] = ..., noop: _Optional[bool] = ..., feature_group_id: _Optional[int] = ..., feature_group_version: _Optional[int] = ..., mod_revision: _Optional[int] = ...) -> None: ...
    class Rejected(_message.Message):
        __slots__ = ("code", "message", "rule", "subject", "revision", "detail")
        CODE_FIELD_NUMBER: _ClassVar[int]
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        RULE_FIELD_NUMBER: _ClassVar[int]
        SUBJECT_FIELD_NUMBER: _ClassVar[int]
        REVISION_FIELD_NUMBER: _ClassVar[int]
        DETAIL_FIELD_NUMBER: _ClassVar[int]
        code: RejectCode
        message: str
        rule: str
        subject: str
        revision: int
        detail: str
        def __init__(self, code: _Optional[_Union[RejectCode, str]] = ..., message: _Optional[str] = ..., rule: _Optional[str] = ..., subject: _Optional[str] = ..., revision: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    applied: Outcome.Applied
    rejected: Outcome.Rejected
    def __init__(self, request_id: _Optional[str] = ..., applied: _Optional[_Union[Outcome.Applied, _Mapping]] = ..., rejected: _Optional[_Union[Outcome.Rejected, _Mapping]] = ...) -> None: ...

class ApplyRequest(_message.Message):
    __slots__ = ("commands", "dry_run")
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    dry_run: bool
    def __init__(self, commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ApplyResponse(_message.Message):
    __slots__ = ("outcomes", "revision")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[Outcome]
    revision: int
    def __init__(self, outcomes: _Optional[_Iterable[_Union[Outcome, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetRegistryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRegistryResponse(_message.Message):
    __slots__ = ("registry",)
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    registry: Registry
    def __init__(self, registry: _Optional[_Union[Registry, _Mapping]] = ...) -> None: ...

class GetStoreRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetStoreResponse(_message.Message):
    __slots__ = ("store", "revision")
    STORE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    store: Store
    revision: int
    def __init__(self, store: _Optional[_Union[Store, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListStoresRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStoresResponse(_message.Message):
    __slots__ = ("stores", "revision")
    STORES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    stores: _containers.RepeatedCompositeFieldContainer[Store]
    revision: int
    def __init__(self, stores: _Optional[_Iterable[_Union[Store, _Mapping]]] = ..., revision: _Optional[int] = ...) -> None: ...

class GetEntityRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetEntityResponse(_message.Message):
    __slots__ = ("entity", "revision")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    entity: Entity
    revision: int
    def __init__(self, entity: _Optional[_Union[Entity, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListEntitiesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEntitiesResponse(_message.Message):
    __slots__ = ("entities", "next_page_token", "revision")
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    next_page_token: str
    revision: int
    def __init__(self, entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class GetFeatureGroupRequest(_message.Message):
    __slots__ = ("name", "id", "active_version_only")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_VERSION_ONLY_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: int
    active_version_only: bool
    def __init__(self, name: _Optional[str] = ..., id: _Optional[int] = ..., active_version_only: _Optional[bool] = ...) -> None: ...

class GetFeatureGroupResponse(_message.Message):
    __slots__ = ("feature_group", "revision")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    feature_group: FeatureGroup
    revision: int
    def __init__(self, feature_group: _Optional[_Union[FeatureGroup, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...

class ListFeatureGroupsRequest(_message.Message):
    __slots__ = ("entity", "page_size", "page_token")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entity: str
    page_size: int
    page_token: str
    def __init__(self, entity: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFeatureGroupsResponse(_message.Message):
    __slots__ = ("feature_groups", "next_page_token", "revision")
    FEATURE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    feature_groups: _containers.RepeatedCompositeFieldContainer[FeatureGroup]
    next_page_token: str
    revision: int
    def __init__(self, feature_groups: _Optional[_Iterable[_Union[FeatureGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("start_revision",)
    START_REVISION_FIELD_NUMBER: _ClassVar[int]
    start_revision: int
    def __init__(self, start_revision: _Optional[int] = ...) -> None: ...

class WatchResponse(_message.Message):
    __slots__ = ("registry",)
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    registry: Registry
    def __init__(self, registry: _Optional[_Union[Registry, _Mapping]] = ...) -> None: ...
