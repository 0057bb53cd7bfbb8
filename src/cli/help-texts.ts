// Help texts several commands share, in a module of their own: a light command (tokenize) takes
// them without loading what common.ts imports.

/** What --tokenizer takes: whatever Tokenizer.load reads. */
export const TOKENIZER_SOURCES = 'llama2.c tokenizer.bin, a GGUF file, a tokenizer.json or a Hugging Face directory';
