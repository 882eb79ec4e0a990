/** The addon, through the one typed loader of @kqkd/native (shared with @kqkd/train's optimizer step). */
import { loadAddon, type NativeAddon, type NativeGeometry } from '@kqkd/native';

export type { NativeAddon, NativeGeometry };

/** Loads the addon once; @kqkd/native throws a clear "build it with ..." error when it is missing. */
export function nativeAddon(): NativeAddon {
  return loadAddon();
}
