/**
 * How a served model is named in Results and Metadata. Deepgram clients expect a version and
 * a UUID that stay the same for the same weights; for a registered model both derive from
 * its pinned checksum, so they change exactly when the weights do and need no state.
 */
import { createHash } from 'node:crypto';
import { findModel } from '../model/registry.js';
import type { ModelInfo } from './protocol-messages.js';

export function modelInfoFor(modelName: string): ModelInfo {
  const weights = findModel(modelName)?.files.find((file) => file.name === 'model.bin');
  // A model served from a directory has no pinned checksum; its name is all we can vouch for.
  const version = weights ? weights.sha256.slice(0, 12) : 'local';
  const hex = createHash('sha256').update(`chorus-model\0${modelName}\0${version}`).digest('hex');
  // Laid out as an RFC 9562 version 8 (custom) UUID, which is what a derived identifier is.
  const uuid = [
    hex.slice(0, 8),
    hex.slice(8, 12),
    '8' + hex.slice(13, 16),
    ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16) + hex.slice(17, 20),
    hex.slice(20, 32),
  ].join('-');
  return { name: modelName, version, arch: 'whisper', uuid };
}
