/**
 * Server reflection (v1 and v1alpha) for grpcurl and `buf curl`, fed from the
 * protobuf-es file descriptors, so nothing is loaded from .proto files at run time.
 */
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";

function withDependencies(file: DescFile, seen: Map<string, DescFile>): void {
  if (seen.has(file.name)) return;
  seen.set(file.name, file);
  for (const dependency of file.dependencies) withDependencies(dependency, seen);
}

export function addReflection(server: Server, services: readonly DescService[]): void {
  // The health service (served by grpc-health-check) is described from our own
  // generated copy of its schema, so `grpcurl … grpc.health.v1.Health/Check` works.
  const described = [...services, Health];
  const files = new Map<string, DescFile>();
  for (const service of described) withDependencies(service.file, files);
  // Error details too, so grpcurl and buf curl print ErrorInfo reasons decoded.
  withDependencies(file_google_rpc_status, files);
  withDependencies(file_google_rpc_error_details, files);
  const fileDescriptorProtos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  const packageDefinition = Object.fromEntries([...described.map((s) => s.typeName), "google.rpc.ErrorInfo"].map((name) => [name, { fileDescriptorProtos }]));
  // The package definition shape of @grpc/proto-loader, which is all the reflection
  // service reads (it decodes fileDescriptorProtos).
  new ReflectionService(packageDefinition as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(server);
}
