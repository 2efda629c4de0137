import vramguard  # first: expandable segments are set before CUDA starts
import accelerate, torch
from diffusers import AutoencoderKLQwenImage, QwenImageEditPipeline, QwenImageTransformer2DModel
from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration
from PIL import Image

M = "Qwen/Qwen-Image-Edit"  # from the Hugging Face cache, or a local folder: nothing is downloaded
with accelerate.init_empty_weights():  # the pipeline's own classes, no memory spent on weights
    parts = dict(transformer=QwenImageTransformer2DModel.from_config(QwenImageTransformer2DModel.load_config(M, subfolder="transformer")),
                 vae=AutoencoderKLQwenImage.from_config(AutoencoderKLQwenImage.load_config(M, subfolder="vae")),
                 text_encoder=Qwen2_5_VLForConditionalGeneration._from_config(AutoConfig.from_pretrained(M, subfolder="text_encoder")))
pipe = QwenImageEditPipeline.from_pretrained(M, **parts, torch_dtype=torch.bfloat16)  # tokenizer, processor, scheduler
# The checkpoint is the one pipe came from (its name_or_path); the config, the seed's: balanced, 12 GB, 4 GB free, bf16.
pipe, handle = vramguard.apply(pipe, config=vramguard.config_path("rtx4080-16gb"))
pipe(image=Image.open("input.png"), prompt="make the sky stormy", num_inference_steps=30).images[0].save("output.png")
print(handle.report()["components"])  # per component: steps, time, bytes streamed, peak per GPU
handle.unload()  # every byte back; the process keeps only the CUDA context
