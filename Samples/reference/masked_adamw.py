"""One AdamW step on the masked positions of a model's tensors (and the top-k masks the
benchmarks train under): the optimizer of SPU's
PyTorch references and benchmarks (spu_reference.py, Tests/Fixtures/make_clip_spu_fixture.py,
Samples/benchmarks/spu_step*.py), written once.

AdamW as Scalpel's: beta 0.9, 0.999, eps 1e-8, PyTorch's order (decoupled decay, then the
Adam step), no decay on biases and LayerNorm parameters, and nothing outside the mask moves.
"""
import torch


def masked_adamw_step(parameters, masks, state, rate, step, weight_decay):
    """parameters: name -> tensor (with .grad); masks: name -> bool tensor; state: name -> (m, v);
    step counts from 1."""
    with torch.no_grad():
        for name, mask in masks.items():
            p, (m, v) = parameters[name], state[name]
            g = p.grad * mask
            m.mul_(0.9).add_(0.1 * g)
            v.mul_(0.999).add_(0.001 * g * g)
            decay = 0.0 if name.endswith(".bias") or "LayerNorm" in name else weight_decay
            update = rate * (m / (1 - 0.9 ** step)) / ((v / (1 - 0.999 ** step)).sqrt() + 1e-8)
            p.copy_(torch.where(mask, p * (1 - rate * decay) - update, p))


def top_masks(scores, parameters, rate):
    """Per scored weight (name -> scores) its top `rate` positions (torch.topk), and the
    weight's bias whole: the masks SPU's benchmarks train under."""
    masks = {}
    for name, score in scores.items():
        flat = score.flatten()
        keep = torch.zeros_like(flat, dtype=torch.bool)
        keep[torch.topk(flat, round(rate * flat.numel())).indices] = True
        masks[name] = keep.view_as(parameters[name])
        bias = name[:-len("weight")] + "bias"
        masks[bias] = torch.ones_like(parameters[bias], dtype=torch.bool)
    return masks
