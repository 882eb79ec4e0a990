/** The training backends' names (the factories are in registry.ts; configs only need the names). */
export const BACKENDS = ['native', 'web-training'] as const;
export type BackendName = (typeof BACKENDS)[number];
/** The backend used when the config does not name one: native (measured faster, equal results within float tolerance). */
export const DEFAULT_BACKEND: BackendName = 'native';
