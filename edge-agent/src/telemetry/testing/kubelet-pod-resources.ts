// A kubelet-like PodResources gRPC server on a unix socket for tests: the kubelet's own podresources/v1
// PodResourcesLister service from its proto (KWOK nodes have no kubelet to ask).
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, loadPackageDefinition } from '@grpc/grpc-js';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ListPodResourcesResponse } from '../gpu-allocations.ts';

const PROTO = fileURLToPath(new URL('../proto/podresources-v1.proto', import.meta.url));
export const POD_RESOURCES_SERVICE = (loadPackageDefinition(loadSync(PROTO, { keepCase: true, arrays: true })) as unknown as { v1: { PodResourcesLister: { service: ServiceDefinition } } })
  .v1.PodResourcesLister.service;

export type ListHandler = (reply: (err: { code: number; details: string } | null, res?: ListPodResourcesResponse) => void) => void;

/** Serves `List` with `handler` on `unix:<socket>`; close with `server.forceShutdown()`. */
export async function startPodResourcesServer(socket: string, handler: ListHandler, service: ServiceDefinition = POD_RESOURCES_SERVICE): Promise<Server> {
  const server = new Server();
  const impl: UntypedServiceImplementation = { List: (_call: unknown, cb: Parameters<ListHandler>[0]) => handler(cb) };
  server.addService(service, impl);
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return server;
}
