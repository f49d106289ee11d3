"""A replica that speaks only gRPC over h2c, for the operator's gRPC heartbeats:
a real grpcio server with the reference grpc.health.v1 servicer
(grpcio-health-checking), as the process runtime starts it ("$(PORT)", and the
slot in $RINGLB_SLOT). An HTTP/1.1 request gets no answer it could use.

Methods (raw bytes, no protobuf):
  /ringlb.test.Echo/Unary       -> "<slot> <request>", initial metadata x-served-by: <slot>
  /ringlb.test.Admin/NotServing -> sets ringlb.test.Echo's health to NOT_SERVING (a replica
                                   that is up but reports itself unfit)

grpcio and grpcio-health-checking come from $RINGLB_GRPCIO_PATH (os.pathsep-separated)."""
import argparse
import os
import sys
from concurrent import futures

for entry in reversed(os.environ["RINGLB_GRPCIO_PATH"].split(os.pathsep)):
    sys.path.insert(0, entry)
import grpc  # noqa: E402
from grpc_health.v1 import health, health_pb2, health_pb2_grpc  # noqa: E402

SERVICE = "ringlb.test.Echo"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--listen-address", default="127.0.0.1")
    args = parser.parse_args()
    slot = os.environ["RINGLB_SLOT"]

    checks = health.HealthServicer()
    checks.set("", health_pb2.HealthCheckResponse.SERVING)
    checks.set(SERVICE, health_pb2.HealthCheckResponse.SERVING)

    def unary(request, context):
        context.send_initial_metadata((("x-served-by", slot),))
        return f"{slot} {request.decode()}".encode()

    def not_serving(request, context):
        checks.set(SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        return b"ok"

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler(SERVICE, {"Unary": grpc.unary_unary_rpc_method_handler(unary)}),
        grpc.method_handlers_generic_handler("ringlb.test.Admin",
                                             {"NotServing": grpc.unary_unary_rpc_method_handler(not_serving)}),
    ))
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    if server.add_insecure_port(f"{args.listen_address}:{args.port}") == 0:
        sys.exit(f"cannot listen on {args.listen_address}:{args.port}")
    server.start()
    print(f"listening {args.port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
