/**
 * Which Ingresses Portico serves: IngressClass selection as Kubernetes and ingress-nginx define it.
 */
import type { ClusterState } from '../state/cluster-state.ts';
import type { Ingress } from '../state/objects.ts';

/** The annotation that marks an IngressClass as the cluster default. */
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
/** The pre-1.18 class annotation, still honoured when `spec.ingressClassName` is absent. */
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
/** The controller value of IngressClasses Portico serves. */
export const PORTICO_CONTROLLER = 'portico.dev/ingress-controller';

/** How Portico recognises its Ingresses. */
export interface ClassSelection {
  /** The class name served when no IngressClass object of that name exists (default `portico`). */
  readonly className: string;
  /** The `spec.controller` of IngressClasses Portico serves. */
  readonly controller: string;
  /** Serve Ingresses without any class even when no default IngressClass of Portico exists. */
  readonly watchWithoutClass: boolean;
}

/** The defaults of cluster mode; standalone turns `watchWithoutClass` on. */
export const DEFAULT_CLASS_SELECTION: ClassSelection = {
  className: 'portico',
  controller: PORTICO_CONTROLLER,
  watchWithoutClass: false,
};

/** The class an Ingress asks for, or undefined when it names none. */
export function requestedClass(ingress: Ingress): string | undefined {
  return ingress.spec.ingressClassName ?? ingress.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
}

/**
 * True when Portico serves this Ingress: its class is an IngressClass with Portico's controller
 * (or, with no such object, the configured class name); a class-less Ingress is served when a
 * default IngressClass is Portico's, or when `watchWithoutClass` says so. Other classes are
 * never touched, so Portico never fights another controller.
 */
export function servesIngress(ingress: Ingress, state: ClusterState, selection: ClassSelection): boolean {
  const wanted = requestedClass(ingress);
  if (wanted !== undefined) {
    const ingressClass = state.ingressClasses.get(wanted);
    if (ingressClass !== undefined) return ingressClass.spec.controller === selection.controller;
    return wanted === selection.className;
  }
  return selection.watchWithoutClass || defaultClassServed(state, selection);
}

/** Whether some IngressClass marked as the cluster default is Portico's (then class-less Ingresses are served). */
export function defaultClassServed(state: ClusterState, selection: ClassSelection): boolean {
  for (const ingressClass of state.ingressClasses.values()) {
    if (ingressClass.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true' && ingressClass.spec.controller === selection.controller) {
      return true;
    }
  }
  return false;
}

/** Ingresses in `state` that are not served because of their class (another controller's, or none). */
export function skippedForClass(state: ClusterState, selection: ClassSelection): { count: number; examples: string[] } {
  const skipped = [...state.ingresses.values()].filter((ingress) => !servesIngress(ingress, state, selection));
  return { count: skipped.length, examples: skipped.slice(0, 5).map((i) => `${i.metadata.namespace ?? 'default'}/${i.metadata.name}`) };
}
