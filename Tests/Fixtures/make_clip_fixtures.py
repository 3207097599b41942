#!/usr/bin/env python3
"""Reference outputs for Scalpel's CLIP tokenizer, made by open_clip's own SimpleTokenizer.

Run once where open_clip_torch (3.3.0) and ftfy are installed; CI reads the committed file:

    /tmp/ref/bin/pip install open_clip_torch==3.3.0 ftfy
    /tmp/ref/bin/python Tests/Fixtures/make_clip_fixtures.py Tests/Fixtures/clip

Writes
- tokenizer_cases.json: texts (the BERT fixtures' 50 sentences, hard inputs, class prompts, a
  text longer than the context) and the ids open_clip gives them: start token, BPE ids, end
  token, truncated to 77 with the end token last (padding left off);
- tiny_open_clip.safetensors (+ open_clip_config.json): a random 2-layer open_clip CLIP
  (QuickGELU), and tiny_open_clip_gelu.safetensors, the same with GELU;
  tiny_hf_clip.safetensors (+ tiny_hf_clip_config.json): a random 2-layer transformers
  CLIPModel; each with, under "expected.*", two images and two token sequences, their
  normalised embeddings, and the gradient of a scalar loss (sum of squared image-text
  similarities) with respect to every first-MLP weight and bias of both towers.
"""
import json
import os
import sys

import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
from open_clip.tokenizer import SimpleTokenizer
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))

HARD = [
    "a photo of a cat.", "A PHOTO OF A DOG!", "a photo of the number 42", "an origami crane, 3.5 cm",
    "Héllo, Wörld! Ça va? Ñandú über façade", "ÅNGSTRÖM crème brûlée résumé naïve coöperate",
    "3.14159 + 2,718 = 5.86; 1e-12 0x1F 100% #42 @home", "can't won't it's ain't y'all I'M WE'LL THEY'D",
    "emoji 😀👍🏽🇫🇷 and ☃ snowman ✨", "中文字符和日本語のテキスト 한국어",
    "tabs\tand\nnewlines\r\nand   spaces", "control\u0000chars\u200bzero\u00adwidth",
    "punctuation!!! ... ??? --- ((brackets)) [x] {y} <z>", "URLs https://example.com/a?b=c&d=e#f",
    "curly \u2018quotes\u2019 and \u201cdouble\u201d", "ligatures \ufb01ne \ufb02ow", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３",
    "html &amp; entities &lt;b&gt; &#39;x&#39; &#x263A;", "a\u0085b c\u2028d", "cafe\u0301 (combining accent)",
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "", "   ", "<start_of_text> inside <end_of_text>",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 12),
]


def inputs(context):
    torch.manual_seed(1)
    images = torch.randn(2, 3, 32, 32)
    texts = torch.zeros(2, context, dtype=torch.long)
    texts[0, :5] = torch.tensor([998, 5, 17, 300, 999])
    texts[1, :8] = torch.tensor([998, 3, 4, 5, 6, 7, 8, 999])
    return images, texts


def with_expected(tensors, images, texts, image_embeds, text_embeds, named_parameters, first_mlp):
    loss = ((image_embeds @ text_embeds.T) ** 2).sum()
    loss.backward()
    tensors = dict(tensors)
    tensors["expected.images"] = images.contiguous()
    tensors["expected.texts"] = texts.to(torch.int64).contiguous()
    tensors["expected.image_embeds"] = image_embeds.detach().contiguous()
    tensors["expected.text_embeds"] = text_embeds.detach().contiguous()
    tensors["expected.loss"] = loss.detach().reshape(1)
    for name, p in named_parameters:
        if first_mlp(name):
            tensors["expected.grad." + name] = p.grad.detach().clone().contiguous()
    return tensors


def perturbed(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)  # break the symmetric initialisation
    return model


def tiny_open_clip(folder, quick_gelu):
    torch.manual_seed(0)
    model = perturbed(CLIP(embed_dim=16, quick_gelu=quick_gelu,
                           vision_cfg=CLIPVisionCfg(layers=2, width=32, head_width=16, mlp_ratio=2, patch_size=8, image_size=32),
                           text_cfg=CLIPTextCfg(context_length=20, vocab_size=1000, width=32, heads=2, layers=2, mlp_ratio=2))).eval()
    images, texts = inputs(20)
    image_embeds = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
    text_embeds = torch.nn.functional.normalize(model.encode_text(texts), dim=-1)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if k != "attn_mask"}
    tensors = with_expected(state, images, texts, image_embeds, text_embeds, model.named_parameters(), lambda n: ".mlp.c_fc." in n)
    name = "tiny_open_clip.safetensors" if quick_gelu else "tiny_open_clip_gelu.safetensors"
    save_file(tensors, os.path.join(folder, name))
    if quick_gelu:
        with open(os.path.join(folder, "open_clip_config.json"), "w") as f:
            json.dump({"model_cfg": {"embed_dim": 16, "quick_gelu": True, "vision_cfg": {"layers": 2, "width": 32, "head_width": 16},
                                     "text_cfg": {"context_length": 20, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 2}}}, f, indent=1)


def tiny_hf_clip(folder):
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(projection_dim=16,
                        text_config=dict(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                         max_position_embeddings=20, hidden_act="quick_gelu", eos_token_id=999, bos_token_id=998, pad_token_id=0),
                        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                           image_size=32, patch_size=8, hidden_act="quick_gelu"))
    model = perturbed(CLIPModel(config)).eval()
    images, texts = inputs(20)
    out = model(input_ids=texts, pixel_values=images)
    tensors = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if "position_ids" not in k}
    tensors = with_expected(tensors, images, texts, out.image_embeds, out.text_embeds, model.named_parameters(), lambda n: ".mlp.fc1." in n)
    save_file(tensors, os.path.join(folder, "tiny_hf_clip.safetensors"))
    with open(os.path.join(folder, "tiny_hf_clip_config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=1, sort_keys=True, default=str)


def main(folder):
    tokenizer = SimpleTokenizer()
    with open(os.path.join(HERE, "text", "sentences.json")) as f:
        sentences = [row["text"] for row in json.load(f)]
    cases = []
    for text in sentences + HARD:
        row = tokenizer([text])[0].tolist()
        length = min(77, len(tokenizer.encode(text)) + 2)
        cases.append({"text": text, "ids": row[:length]})
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer_cases.json"), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
    tiny_open_clip(folder, quick_gelu=True)
    tiny_open_clip(folder, quick_gelu=False)
    tiny_hf_clip(folder)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "clip"))
