/**
 * The Rust supervisor's routes beyond the first gateway: `GET /deploy` lists the
 * deployments this device runs — each as the DeploymentNode an orchestrator would have
 * POSTed to it — and `/module_results/{deployment}/{module}/{file}` serves the newest
 * output file of that name a call through this gateway produced.
 */
import type { GatewayContext } from './context.ts';
import { sendBytes, sendJson, UnknownFileError } from './http.ts';
import type { Router } from './router.ts';
import { deploymentView } from './views.ts';

/** Register the routes (before the supervisor's function route). */
export function supervisor2026Routes(router: Router, g: GatewayContext): void {
  const { peer, orchestrator, supervisor } = g.node;

  router.on('GET', '/deploy', ({ res, base }) => {
    const here = [...new Set(supervisor.deployed().map((d) => d.deploymentId))];
    const nodes = here.flatMap((id) => {
      try {
        const view = deploymentView(orchestrator.get(id), base, (p) => g.nameOf(p), (m) => peer.registry.modules.get(m));
        const node = (view.fullManifest as Record<string, unknown>)[peer.id];
        return node ? [{ ...(node as object), name: view.name, status: view.status, revision: view.revision }] : [];
      } catch {
        // Deployed here but gone from the registry (being removed): nothing to describe.
        return [];
      }
    });
    sendJson(res, 200, nodes);
  });

  router.on('GET', '/module_results/:deployment/:module/:file', ({ res, params }) => {
    const { deployment, module, file } = params as { deployment: string; module: string; file: string };
    let deploymentId = deployment;
    try {
      deploymentId = orchestrator.get(deployment).record.id;
    } catch {
      // Results outlive their deployment for as long as they are kept: look up the id as given.
    }
    const kept = g.results.latest(deploymentId, module, file);
    if (!kept) throw new UnknownFileError(`no result ${file} of ${module} in ${deployment} is kept`, { deployment, module, file });
    sendBytes(res, 200, kept.bytes, kept.mediaType, { 'content-disposition': `inline; filename="${kept.name.replace(/[^\w.-]/g, '_')}"` });
  });
}
