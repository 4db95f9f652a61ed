"""Lists a running Roster's services with a real gRPC reflection client
(grpcio-reflection, reflection v1alpha) and checks that the three Roster
services and their methods are described. Usage: reflection_check.py HOST:PORT"""

import sys

import grpc
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

EXPECTED = {
    "roster.v1.UserManagementService": {"AddUser", "ListUsers", "BulkRemoveUsers", "StreamEvents"},
    "roster.v1.SeatsService": {"GetSeatUsage", "ListLedgerEntries", "RequestSeatRecalculation"},
    "roster.v1.AccessService": {"CheckAccess", "BatchCheckAccess"},
}


def main() -> int:
    channel = grpc.insecure_channel(sys.argv[1])
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    print("services:", ", ".join(sorted(services)))
    pool = DescriptorPool(database)
    for name, methods in EXPECTED.items():
        if name not in services:
            print(f"FAIL: {name} is not listed", file=sys.stderr)
            return 1
        descriptor = pool.FindServiceByName(name)
        found = {m.name for m in descriptor.methods}
        missing = methods - found
        if missing:
            print(f"FAIL: {name} lacks {sorted(missing)}", file=sys.stderr)
            return 1
        print(f"{name}: {len(found)} methods")
    if "grpc.health.v1.Health" not in services:
        print("FAIL: grpc.health.v1.Health is not listed", file=sys.stderr)
        return 1
    print("reflection check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
