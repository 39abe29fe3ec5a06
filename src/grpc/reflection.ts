/**
 * Server reflection (v1 and v1alpha) for grpcurl and `buf curl`, fed from the
 * protobuf-es file descriptors, so nothing is loaded from .proto files at run time.
 */
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";

function withDependencies(file: DescFile, seen: Map<string, DescFile>): void {
  if (seen.has(file.name)) return;
  seen.set(file.name, file);
  for (const dependency of file.dependencies) withDependencies(dependency, seen);
}

export function addReflection(server: Server, services: readonly DescService[]): void {
  const files = new Map<string, DescFile>();
  for (const service of services) withDependencies(service.file, files);
  const fileDescriptorProtos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  const packageDefinition = Object.fromEntries(services.map((s) => [s.typeName, { fileDescriptorProtos }]));
  // The package definition shape of @grpc/proto-loader, which is all the reflection
  // service reads (it decodes fileDescriptorProtos).
  new ReflectionService(packageDefinition as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(server);
}
