package loadgen

import (
	"context"
	"encoding/binary"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// EchoMethod is the full name of the echo server's one method.
const EchoMethod = "/ofs.bench.Echo/Echo"

// errEchoSize: an echo request too short to say the answer's size.
var errEchoSize = errors.New("loadgen: echo request gives no size")

// EchoService answers a BytesValue whose first four bytes give the size of
// the answer: a gRPC server doing no work but moving the bytes a real
// server would, the bound a server can be compared with.
var EchoService = grpc.ServiceDesc{
	ServiceName: "ofs.bench.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in wrapperspb.BytesValue
			if err := dec(&in); err != nil {
				return nil, err
			}
			if len(in.GetValue()) < 4 {
				return nil, errEchoSize
			}
			return &wrapperspb.BytesValue{Value: make([]byte, binary.LittleEndian.Uint32(in.GetValue()))}, nil
		},
	}},
}

// EchoRequest is an echo request of reqBytes bytes asking for an answer
// of answerBytes.
func EchoRequest(reqBytes, answerBytes int) *wrapperspb.BytesValue {
	v := &wrapperspb.BytesValue{Value: make([]byte, max(reqBytes, 4))}
	binary.LittleEndian.PutUint32(v.Value, uint32(answerBytes))
	return v
}
