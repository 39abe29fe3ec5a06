/**
 * Readiness of a remote gRPC upstream: its `grpc.health.v1.Health/Check`, which
 * the gRPC server answers SERVING only while its PostgreSQL and Redis answer. It
 * rides the bridge's own upstream connection.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

/** Whether the upstream says it is serving (its stores answer), within `timeoutMs`. */
export async function upstreamServing(transport: Transport, timeoutMs = 1_000): Promise<boolean> {
  try {
    const { status } = await createClient(Health, transport).check({ service: "" }, { timeoutMs });
    return status === HealthCheckResponse_ServingStatus.SERVING;
  } catch {
    return false;
  }
}
