"""Tiny random models for the tests, built offline.

Each ``make_tiny_*`` function builds a model with random weights (seeded) from a small config and a
tokenizer *trained* with the ``tokenizers`` library on :data:`CORPUS`, and saves both with
``save_pretrained`` into ``path`` so that ``AutoTokenizer.from_pretrained(path)`` and
``AutoModel.from_pretrained(path)`` work without the network. The corpus holds some CJK text so
byte-level BPE and unigram see it. Each builder returns ``path`` (as a string) and takes well under
two seconds once transformers is imported.

transformers/torch/tokenizers are imported inside the functions so that importing this module is
cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CORPUS", "make_tiny_gpt2", "make_tiny_bert", "make_tiny_roberta", "make_tiny_bart", "make_tiny_t5",
           "make_tiny_llm", "LLM_CONFIGS", "BUILDERS", "assert_far_from_uniform", "distance_from_uniform"]

CORPUS = [
    "The cat sat on the mat because it was tired.",
    "The dog chased the cat around the garden.",
    "A quick brown fox jumps over the lazy dog.",
    "Attention weights show which tokens a model looks at.",
    "The animal didn't cross the street because it was too tired.",
    "She said that the book on the table was hers.",
    "Transformers read the whole sentence at once.",
    "Every layer has several heads, and every head has its own pattern.",
    "今日はカレーライスを食べました。",
    "猫がマットの上に座った。",
    "東京は日本の首都です。",
    "我喜欢学习自然语言处理。",
    "한국어 문장도 조금 있습니다.",
    "Emoji too: 🙂 and 🐱 appear here.",
    "the the the and and of of to to in in is is it it",
]

_MAX_LEN = 64  # model_max_length of every tiny tokenizer (and position limit of the models)


def _seed() -> None:
    import torch

    torch.manual_seed(0)


def _corpus(repeat: int = 3) -> list[str]:
    return CORPUS * repeat


#: query and key projections (fused ones too) of every architecture built here, by parameter name
_QK_NAMES = ("q_proj", "k_proj", "qkv_proj", "query", "key", "q_lin", "k_lin", "c_attn", "query_key_value", "Wqkv",
             "query_proj", "key_proj", ".q.", ".k.")
#: the query and key weights are multiplied by this, so every score q·k by its square (64): a random model's
#: attention is otherwise within 0.003–0.01 of uniform (one to two 8-bit steps), and a test at 1/255 could not fail
SHARPEN = 8.0
#: how far from uniform the attention of a tiny model must be (the fixtures check it): 25 8-bit steps
FAR_FROM_UNIFORM = 0.1


def _sharpen(model) -> None:
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("weight") and any(part in name for part in _QK_NAMES):
                param.mul_(SHARPEN)


def distance_from_uniform(path: str | os.PathLike) -> float:
    """The largest difference, over every layer, head, query and open key, between the attention of the model at
    ``path`` (extracted as a figure extracts it) and the uniform weights over the keys its mask leaves open."""
    import numpy as np

    from mkdocs_attnviz import extract as ex

    ref = ex.resolve_model("tiny", None, models={"tiny": str(path)})
    att = ex.extract(ref, CORPUS[0] + " " + CORPUS[1])  # a LayerStore where a test made this a long input
    weights = np.stack([att.weights[i] for i in range(att.weights.shape[0])]).astype(np.float64)
    open_keys = weights > 0
    uniform = open_keys / np.maximum(open_keys.sum(axis=-1, keepdims=True), 1)
    return float(np.abs(weights - uniform).max())


def _save(path: str | os.PathLike, model, tokenizer) -> str:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    _sharpen(model)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def assert_far_from_uniform(path: str | os.PathLike) -> str:
    """``path``, once the fixture that built it has checked that its attention is far from uniform."""
    far = distance_from_uniform(path)
    assert far > FAR_FROM_UNIFORM, f"the tiny model in {path} attends within {far:.4f} of uniform"
    return str(path)


def _fast(tok, **special):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=_MAX_LEN, **special)


def _byte_level_bpe(specials: list[str], vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok


def make_tiny_gpt2(path: str | os.PathLike) -> str:
    """GPT-2 (decoder-only, causal) with a byte-level BPE tokenizer; no special tokens added to inputs."""
    from tokenizers import processors
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = _byte_level_bpe(["<|endoftext|>"])
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    eos = tok.token_to_id("<|endoftext|>")
    fast = _fast(tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>")
    _seed()
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=_MAX_LEN, n_embd=32, n_layer=2, n_head=4,
                        n_inner=64, bos_token_id=eos, eos_token_id=eos)
    return _save(path, GPT2LMHeadModel(config).eval(), fast)


def make_tiny_bert(path: str | os.PathLike) -> str:
    """BERT with a WordPiece tokenizer ([CLS] A [SEP] B [SEP], token types)."""
    from transformers import BertConfig, BertModel

    tok, fast = _wordpiece()
    _seed()
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=_MAX_LEN, type_vocab_size=2,
                        pad_token_id=tok.token_to_id("[PAD]"))
    return _save(path, BertModel(config).eval(), fast)


_ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _roberta_tokenizer():
    from tokenizers import processors

    tok = _byte_level_bpe(_ROBERTA_SPECIALS)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=False)
    fast = _fast(tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>",
                 pad_token="<pad>", mask_token="<mask>")
    return tok, fast


def make_tiny_roberta(path: str | os.PathLike) -> str:
    """RoBERTa with a byte-level BPE tokenizer (<s> A </s></s> B </s>)."""
    from transformers import RobertaConfig, RobertaModel

    tok, fast = _roberta_tokenizer()
    _seed()
    pad = tok.token_to_id("<pad>")
    config = RobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=64,
                           max_position_embeddings=_MAX_LEN + pad + 1, type_vocab_size=1, pad_token_id=pad,
                           bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"))
    return _save(path, RobertaModel(config).eval(), fast)


def make_tiny_bart(path: str | os.PathLike) -> str:
    """BART (encoder-decoder) with a byte-level BPE tokenizer."""
    from transformers import BartConfig, BartModel

    tok, fast = _roberta_tokenizer()
    _seed()
    config = BartConfig(vocab_size=tok.get_vocab_size(), d_model=32, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, max_position_embeddings=_MAX_LEN,
                        pad_token_id=tok.token_to_id("<pad>"), bos_token_id=tok.token_to_id("<s>"),
                        eos_token_id=tok.token_to_id("</s>"), decoder_start_token_id=tok.token_to_id("</s>"),
                        forced_eos_token_id=tok.token_to_id("</s>"))
    return _save(path, BartModel(config).eval(), fast)


def make_tiny_t5(path: str | os.PathLike) -> str:
    """T5 (encoder-decoder, relative positions) with a SentencePiece-style Unigram + Metaspace tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import T5Config, T5Model

    specials = ["<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace("  ", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(_corpus(), trainer=trainers.UnigramTrainer(vocab_size=300, special_tokens=specials,
                                                                      unk_token="<unk>", show_progress=False))
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A:0 </s>:0", pair="$A:0 </s>:0 $B:1 </s>:1",
                                                       special_tokens=[("</s>", eos)])
    fast = _fast(tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    _seed()
    config = T5Config(vocab_size=tok.get_vocab_size(), d_model=32, d_kv=8, d_ff=64, num_layers=2,
                      num_decoder_layers=2, num_heads=4, relative_attention_num_buckets=8,
                      relative_attention_max_distance=32, pad_token_id=tok.token_to_id("<pad>"), eos_token_id=eos,
                      decoder_start_token_id=tok.token_to_id("<pad>"))
    return _save(path, T5Model(config).eval(), fast)


#: today's architectures, tiny: model type → what its config adds to 2 layers × 4 heads of width 32 (grouped-query
#: attention with 2 key/value heads, sliding windows of 4 tokens, soft caps... where the architecture has them)
LLM_CONFIGS = {
    "llama": {"num_key_value_heads": 2},
    "mistral": {"num_key_value_heads": 2, "sliding_window": 4},
    "qwen2": {"num_key_value_heads": 2, "use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1},
    "qwen3": {"num_key_value_heads": 2, "head_dim": 8},
    "gemma2": {"num_key_value_heads": 2, "head_dim": 8, "sliding_window": 4, "query_pre_attn_scalar": 8},
    "phi3": {"num_key_value_heads": 2, "sliding_window": 4},
    "gpt_neox": {"rotary_pct": 0.5},
    "opt": {"ffn_dim": 64, "word_embed_proj_dim": 32},
    "bloom": {"n_head": 4, "n_layer": 2},
    "falcon": {},  # multi-query: one key/value head
    "modernbert": {"local_attention": 4, "global_attn_every_n_layers": 2},
    "deberta-v2": {"relative_attention": True, "pos_att_type": ["c2p", "p2c"], "position_buckets": 8},
}


def make_tiny_llm(kind: str, path: str | os.PathLike) -> str:
    """A tiny model of architecture ``kind`` (a key of :data:`LLM_CONFIGS`) with its language-model head: a
    byte-level BPE tokenizer that starts every input with ``<s>`` (as Llama's does), or WordPiece ([CLS] A [SEP])
    for the encoders (ModernBERT, DeBERTa-v2)."""
    from tokenizers import processors
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

    encoder = kind in ("modernbert", "deberta-v2")
    if encoder:
        tok, fast = _wordpiece()
        ids = {"pad_token_id": tok.token_to_id("[PAD]"), "bos_token_id": tok.token_to_id("[CLS]"),
               "eos_token_id": tok.token_to_id("[SEP]"), "cls_token_id": tok.token_to_id("[CLS]"),
               "sep_token_id": tok.token_to_id("[SEP]")}
    else:
        tok = _byte_level_bpe(["<s>", "</s>", "<pad>"])
        bos = tok.token_to_id("<s>")
        tok.post_processor = processors.TemplateProcessing(single="<s>:0 $A:0", pair="<s>:0 $A:0 $B:1",
                                                           special_tokens=[("<s>", bos)])
        fast = _fast(tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="</s>")
        ids = {"pad_token_id": tok.token_to_id("<pad>"), "bos_token_id": bos, "eos_token_id": tok.token_to_id("</s>")}
    _seed()
    config = AutoConfig.for_model(kind, vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=64, max_position_embeddings=_MAX_LEN,
                                  **ids, **LLM_CONFIGS[kind])
    model = (AutoModelForMaskedLM if encoder else AutoModelForCausalLM).from_config(config)
    return _save(path, model.eval(), fast)


def _wordpiece():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(_corpus(), trainer=trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials,
                                                                        show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = _fast(tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                 mask_token="[MASK]")
    return tok, fast


BUILDERS = {"gpt2": make_tiny_gpt2, "bert": make_tiny_bert, "roberta": make_tiny_roberta, "bart": make_tiny_bart,
            "t5": make_tiny_t5}


def make_tiny_mpnet(path: str | os.PathLike) -> str:
    """MPNet (relative position bias computed inside its own attention code) with a WordPiece tokenizer."""
    from transformers import MPNetConfig, MPNetModel

    tok, fast = _wordpiece()
    _seed()
    config = MPNetConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=_MAX_LEN + 2,
                         pad_token_id=tok.token_to_id("[PAD]"))
    return _save(path, MPNetModel(config).eval(), fast)
