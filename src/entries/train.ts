// ffnkit/train: fine-tuning on the wasm kernels (a factorized model's router and experts, or any
// named tensors), AdamW, checkpoints, and the teacher text a distillation run trains on.

export { finetune, learningRate, textTokens, sampleBatch, type FinetuneOptions, type FinetuneResult, type StepReport } from '../train/finetune.js';
export { TrainableLlama, type TrainModelOptions, type LossTerms } from '../train/llama-train.js';
export { namedTensors, trainableNames, fileTensorNames, selectTrainable, FACTORLLM_TRAINABLE } from '../train/params.js';
export { type AuxWeights } from '../train/expert-ffn.js';
export { encodeCheckpoint, decodeCheckpoint, modelFingerprint, tokensFingerprint, type Checkpoint, type CheckpointTensor } from '../train/checkpoint.js';
export { teacherText, teacherWeights, type TeacherTextOptions } from '../train/teacher-text.js';
export { AdamW, type AdamWOptions, type AdamWState } from '../optim/adamw.js';
export { splitDocuments } from '../text/documents.js';
