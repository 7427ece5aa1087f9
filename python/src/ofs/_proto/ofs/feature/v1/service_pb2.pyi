from ofs._proto.ofs.feature.v1 import event_pb2 as _event_pb2
from ofs._proto.ofs.registry.v1 import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WriteOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WRITE_OUTCOME_UNSPECIFIED: _ClassVar[WriteOutcome]
    WRITE_OUTCOME_APPLIED: _ClassVar[WriteOutcome]
    WRITE_OUTCOME_NOT_APPLIED: _ClassVar[WriteOutcome]
    WRITE_OUTCOME_UNKNOWN: _ClassVar[WriteOutcome]
WRITE_OUTCOME_UNSPECIFIED: WriteOutcome
WRITE_OUTCOME_APPLIED: WriteOutcome
WRITE_OUTCOME_NOT_APPLIED: WriteOutcome
WRITE_OUTCOME_UNKNOWN: WriteOutcome

class InvalidateRequest(_message.Message):
    __slots__ = ("invalidation",)
    INVALIDATION_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    invalidation: _event_pb2.Invalidation
    def __init__(self, invalidation: _Optional[_Union[_event_pb2.Invalidation, _Mapping]] = ..., **kwargs) -> None: ...

class InvalidateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ErrorInfo(_message.Message):
    __slots__ = ("retryable", "outcome", "idempotency_key")
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    retryable: bool
    outcome: WriteOutcome
    idempotency_key: str
    def __init__(self, retryable: _Optional[bool] = ..., outcome: _Optional[_Union[WriteOutcome, str]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class EntityKey(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class GroupSelection(_message.Message):
    __slots__ = ("feature_group", "features")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    feature_group: str
    features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, feature_group: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ...) -> None: ...

class RetrieveRequest(_message.Message):
    __slots__ = ("entity", "keys", "groups", "typed_values", "key_values", "compact", "columns_revision")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    TYPED_VALUES_FIELD_NUMBER: _ClassVar[int]
    KEY_VALUES_FIELD_NUMBER: _ClassVar[int]
    COMPACT_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_REVISION_FIELD_NUMBER: _ClassVar[int]
    entity: str
    keys: _containers.RepeatedCompositeFieldContainer[EntityKey]
    groups: _containers.RepeatedCompositeFieldContainer[GroupSelection]
    typed_values: bool
    key_values: _containers.RepeatedScalarFieldContainer[str]
    compact: bool
    columns_revision: int
    def __init__(self, entity: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[EntityKey, _Mapping]]] = ..., groups: _Optional[_Iterable[_Union[GroupSelection, _Mapping]]] = ..., typed_values: _Optional[bool] = ..., key_values: _Optional[_Iterable[str]] = ..., compact: _Optional[bool] = ..., columns_revision: _Optional[int] = ...) -> None: ...

class Column(_message.Message):
    __slots__ = ("feature_group", "name", "type", "vector_length", "matrix", "offset")
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MATRIX_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    feature_group: str
    name: str
    type: _registry_pb2.DataType
    vector_length: int
    matrix: int
    offset: int
    def __init__(self, feature_group: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[_registry_pb2.DataType, str]] = ..., vector_length: _Optional[int] = ..., matrix: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class DenseMatrix(_message.Message):
    __slots__ = ("type", "width", "data")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    type: _registry_pb2.DataType
    width: int
    data: bytes
    def __init__(self, type: _Optional[_Union[_registry_pb2.DataType, str]] = ..., width: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("found", "strings", "values")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    found: _containers.RepeatedScalarFieldContainer[bool]
    strings: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedCompositeFieldContainer[_event_pb2.Value]
    def __init__(self, found: _Optional[_Iterable[bool]] = ..., strings: _Optional[_Iterable[str]] = ..., values: _Optional[_Iterable[_Union[_event_pb2.Value, _Mapping]]] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ("columns", "matrices", "rows", "registry_revision", "found", "strings")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    MATRICES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_REVISION_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    matrices: _containers.RepeatedCompositeFieldContainer[DenseMatrix]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    registry_revision: int
    found: _containers.RepeatedScalarFieldContainer[bool]
    strings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., matrices: _Optional[_Iterable[_Union[DenseMatrix, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., registry_revision: _Optional[int] = ..., found: _Optional[_Iterable[bool]] = ..., strings: _Optional[_Iterable[str]] = ...) -> None: ...

class PersistRequest(_message.Message):
    __slots__ = ("entity", "feature_group", "rows", "idempotency_key")
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    FEATURE_GROUP_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    entity: str
    feature_group: str
    rows: _containers.RepeatedCompositeFieldContainer[_event_pb2.FeatureEvent]
    idempotency_key: str
    def __init__(self, entity: _Optional[str] = ..., feature_group: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[_event_pb2.FeatureEvent, _Mapping]]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PersistResponse(_message.Message):
    __slots__ = ("rows", "peers_acknowledged", "peers_fenced")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    PEERS_ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    PEERS_FENCED_FIELD_NUMBER: _ClassVar[int]
    rows: int
    peers_acknowledged: _containers.RepeatedScalarFieldContainer[str]
    peers_fenced: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rows: _Optional[int] = ..., peers_acknowledged: _Optional[_Iterable[str]] = ..., peers_fenced: _Optional[_Iterable[str]] = ...) -> None: ...
