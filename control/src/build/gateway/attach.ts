/**
 * Route attachment: for each `parentRef` of an HTTPRoute or GRPCRoute, which listeners of which
 * Gateway the route attaches to, through which host names, or why it does not (the spec's
 * Accepted reasons: NoMatchingParent, NotAllowedByListeners, NoMatchingListenerHostname).
 */
import type { ClusterState } from '../../state/cluster-state.ts';
import type { ParentReference } from '../../state/gateway-objects.ts';
import { GATEWAY_GROUP } from '../../state/gateway-objects.ts';
import { hostWithin, intersectHostnames } from './hostnames.ts';
import type { GatewayView, ListenerView, RouteKind, StatusCondition } from './listeners.ts';
import { gatewayKey, listenerAllows } from './listeners.ts';

/** One listener a route attached to, and the host names it is served for there. */
export interface Attachment {
  readonly listener: ListenerView;
  readonly hosts: readonly string[];
}

/** What one parentRef of a route came to. */
export interface ParentAttachment {
  /** The parentRef as written (status echoes it). */
  readonly parentRef: ParentReference;
  /** Index in `spec.parentRefs`. */
  readonly index: number;
  /** `namespace/name` of the Gateway. */
  readonly gateway: string;
  readonly attachments: readonly Attachment[];
  /** Accepted True, or False with the spec's reason. */
  readonly accepted: StatusCondition;
}

/**
 * Listener isolation (GEP-1713): a request goes to the most specific listener of its Gateway whose
 * hostname it matches on that port, so a route's host name that a more specific listener of the
 * same port covers is not served through `listener` (a route on the listener without hostname
 * does not answer `a.example.com` when a `*.example.com` listener exists). The route stays
 * attached (it still counts in attachedRoutes); it just serves fewer names.
 */
function isolatedHosts(view: GatewayView, listener: ListenerView, hosts: readonly string[]): readonly string[] {
  const narrower = view.listeners.filter(
    (other) => other !== listener && other.listener.port === listener.listener.port && other.hostname !== undefined && other.hostname !== listener.hostname && (listener.hostname === undefined || hostWithin(other.hostname, listener.hostname)),
  );
  if (narrower.length === 0) return hosts;
  return hosts.filter((host) => !narrower.some((other) => hostWithin(host, other.hostname!)));
}

const refused = (reason: string, message: string): StatusCondition => ({ type: 'Accepted', status: 'False', reason, message });

/**
 * Attaches a route to the parents it names that are Gateways Portico serves; parentRefs to
 * anything else are not Portico's to answer and yield nothing. Pure.
 */
export function attachRoute(
  state: ClusterState,
  gateways: Pick<ReadonlyMap<string, GatewayView>, 'get'>,
  kind: RouteKind,
  namespace: string,
  parentRefs: readonly ParentReference[],
  hostnames: readonly string[] | undefined,
): ParentAttachment[] {
  const out: ParentAttachment[] = [];
  for (const [index, parentRef] of parentRefs.entries()) {
    if ((parentRef.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (parentRef.kind ?? 'Gateway') !== 'Gateway') continue;
    const key = gatewayKey(parentRef.namespace ?? namespace, parentRef.name);
    const view = gateways.get(key);
    if (view === undefined) continue;
    const base = { parentRef, index, gateway: key };
    const named = view.listeners.filter((l) => (parentRef.sectionName === undefined || l.listener.name === parentRef.sectionName) && (parentRef.port === undefined || l.listener.port === parentRef.port));
    if (named.length === 0) {
      const what = [parentRef.sectionName === undefined ? '' : `sectionName ${parentRef.sectionName}`, parentRef.port === undefined ? '' : `port ${parentRef.port}`].filter(Boolean).join(' and ');
      out.push({ ...base, attachments: [], accepted: refused('NoMatchingParent', `Gateway ${key} has no listener with ${what}`) });
      continue;
    }
    const allowed = named.filter((l) => l.usable && listenerAllows(state, l, kind, namespace));
    if (allowed.length === 0) {
      out.push({ ...base, attachments: [], accepted: refused('NotAllowedByListeners', `no listener of Gateway ${key} lets a ${kind} from namespace ${namespace} attach`) });
      continue;
    }
    const attachments: Attachment[] = [];
    for (const listener of allowed) {
      const hosts = intersectHostnames(listener.hostname, hostnames);
      if (hosts.length > 0) attachments.push({ listener, hosts: isolatedHosts(view, listener, hosts) });
    }
    if (attachments.length === 0) {
      out.push({ ...base, attachments: [], accepted: refused('NoMatchingListenerHostname', `no hostname of the route intersects a listener hostname of Gateway ${key}`) });
      continue;
    }
    out.push({ ...base, attachments, accepted: { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'route accepted' } });
  }
  return out;
}
