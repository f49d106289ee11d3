"""A member that speaks gRPC natively over h2c: a real grpcio server (no
protobuf: the messages are raw bytes). Prints "listening PORT" when ready.

Methods of /ringlb.test.Echo (the same shapes as member.py's HTTP/1.1 ones):
  Unary       -> "<id> <request> 0"
  Stream      -> "<id> <request> i" for i in 0..2
  SlowStream  -> one message every 0.2 s, 200 of them (a call to kill a member under)
  SlowUnary   -> the Unary reply after 0.5 s (calls that overlap)
  Fail        -> NOT_FOUND "nothing here"
  Collect     -> (client streaming) "<id> " + the messages joined with "|"
  Big         -> a message of int(request) bytes
Every call's initial metadata carries x-served-by and its trailers
x-served-by-trailer (the member id) and x-peer (the connection it came on,
so a test can count the proxy's connections from the member side).

--max-concurrent-streams sets the server's SETTINGS_MAX_CONCURRENT_STREAMS."""
import argparse
import os
import sys
import time
from concurrent import futures

sys.path.insert(0, os.environ["RINGLB_GRPCIO_PATH"])
import grpc  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--max-concurrent-streams", type=int, default=0)
    args = parser.parse_args()
    member = args.id

    def begin(context):
        context.send_initial_metadata((("x-served-by", member),))
        context.set_trailing_metadata((("x-served-by-trailer", member), ("x-peer", context.peer())))

    def unary(request, context):
        begin(context)
        return f"{member} {request.decode()} 0".encode()

    def slow_unary(request, context):
        time.sleep(0.5)
        return unary(request, context)

    def stream(request, context):
        begin(context)
        for i in range(3):
            yield f"{member} {request.decode()} {i}".encode()

    def slow_stream(request, context):
        begin(context)
        for i in range(200):
            yield f"{member} {request.decode()} {i}".encode()
            time.sleep(0.2)

    def fail(request, context):
        begin(context)
        context.abort(grpc.StatusCode.NOT_FOUND, "nothing here")

    def collect(requests, context):
        begin(context)
        return f"{member} ".encode() + b"|".join(requests)

    def big(request, context):
        begin(context)
        return b"b" * int(request)

    handlers = {
        "Collect": grpc.stream_unary_rpc_method_handler(collect),
        "Big": grpc.unary_unary_rpc_method_handler(big),
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "SlowUnary": grpc.unary_unary_rpc_method_handler(slow_unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "SlowStream": grpc.unary_stream_rpc_method_handler(slow_stream),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    options = [("grpc.max_concurrent_streams", args.max_concurrent_streams)] if args.max_concurrent_streams else []
    options.append(("grpc.max_send_message_length", 64 << 20))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=options)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("ringlb.test.Echo", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
