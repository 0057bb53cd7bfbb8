// A chat template the page offers for models that carry none (stories260K, llama2.c files):
// ChatML, the format of Qwen and many fine-tunes. Real models' templates are in their files.

export const CHATML = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Where the template chooser's URL option points first (the dev server serves ../shared there). */
export const DEFAULT_TEMPLATE_URL = '/shared/templates/microsoft-Phi-3.5-mini-instruct.jinja';
