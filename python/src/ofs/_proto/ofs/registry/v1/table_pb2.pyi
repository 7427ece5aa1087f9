from ofs._proto.ofs.registry.v1 import registry_pb2 as _registry_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegistryTable(_message.Message):
    __slots__ = ("registry", "recent")
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    registry: _registry_pb2.Registry
    recent: _containers.RepeatedCompositeFieldContainer[AppliedCommand]
    def __init__(self, registry: _Optional[_Union[_registry_pb2.Registry, _Mapping]] = ..., recent: _Optional[_Iterable[_Union[AppliedCommand, _Mapping]]] = ...) -> None: ...

class AppliedCommand(_message.Message):
    __slots__ = ("offset", "outcome")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    offset: int
    outcome: _registry_pb2.Outcome
    def __init__(self, offset: _Optional[int] = ..., outcome: _Optional[_Union[_registry_pb2.Outcome, _Mapping]] = ...) -> None: ...
