"""Tiny configurations of Hugging Face architectures, for the tests that
hold ``materialize_`` against each model's own init
(tests/test_torch_program.py) and for the sharded workers
(tests/dist_worker.py).  Needs transformers."""
import transformers as tf

_DEC = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64)
_MOE = dict(_DEC, num_local_experts=4, num_experts_per_tok=2)


def configs():
    """{name: (model class, config)}: every architecture of the issue's table, two Mixture-of-Experts."""
    return {
        "llama": (tf.LlamaForCausalLM, tf.LlamaConfig(**_DEC, pad_token_id=0)),
        "mistral": (tf.MistralForCausalLM, tf.MistralConfig(**_DEC)),
        "qwen2": (tf.Qwen2ForCausalLM, tf.Qwen2Config(**_DEC)),
        "phi3": (tf.Phi3ForCausalLM, tf.Phi3Config(**_DEC, pad_token_id=0)),
        "gemma": (tf.GemmaForCausalLM, tf.GemmaConfig(**_DEC, head_dim=8, pad_token_id=0)),
        "opt": (tf.OPTForCausalLM, tf.OPTConfig(vocab_size=97, hidden_size=32, ffn_dim=48, num_hidden_layers=2,
                                                num_attention_heads=4, max_position_embeddings=64,
                                                word_embed_proj_dim=32, pad_token_id=1)),
        "gpt2": (tf.GPT2LMHeadModel, tf.GPT2Config(vocab_size=97, n_embd=32, n_layer=3, n_head=4, n_positions=64)),
        "t5": (tf.T5ForConditionalGeneration, tf.T5Config(vocab_size=97, d_model=32, d_kv=8, d_ff=48, num_layers=2,
                                                         num_heads=4, decoder_start_token_id=0)),
        "bert": (tf.BertForPreTraining, tf.BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2,
                                                      num_attention_heads=4, intermediate_size=48,
                                                      max_position_embeddings=64)),
        "vit": (tf.ViTForImageClassification, tf.ViTConfig(hidden_size=32, num_hidden_layers=2,
                                                           num_attention_heads=4, intermediate_size=48,
                                                           image_size=16, patch_size=4, num_labels=3)),
        "whisper": (tf.WhisperForConditionalGeneration,
                    tf.WhisperConfig(vocab_size=97, d_model=32, encoder_layers=2, decoder_layers=2,
                                     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=48,
                                     decoder_ffn_dim=48, num_mel_bins=8, max_source_positions=24,
                                     max_target_positions=32, pad_token_id=0, decoder_start_token_id=1)),
        "resnet": (tf.ResNetForImageClassification, tf.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16],
                                                                    depths=[1, 1], num_labels=3)),
        "wav2vec2": (tf.Wav2Vec2ForPreTraining,
                     tf.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                       intermediate_size=48, conv_dim=(16, 16), conv_stride=(5, 2),
                                       conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                                       num_conv_pos_embedding_groups=4, codevector_dim=16, proj_codevector_dim=16,
                                       num_codevectors_per_group=8)),
        "clip": (tf.CLIPModel, tf.CLIPConfig(
            text_config=dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                             num_attention_heads=4, max_position_embeddings=16, projection_dim=16),
            vision_config=dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                               image_size=16, patch_size=4, projection_dim=16), projection_dim=16)),
        "openai-gpt": (tf.OpenAIGPTLMHeadModel, tf.OpenAIGPTConfig(vocab_size=97, n_embd=32, n_layer=2, n_head=4,
                                                                   n_positions=32)),
        "vit_mae": (tf.ViTMAEForPreTraining, tf.ViTMAEConfig(hidden_size=32, num_hidden_layers=2,
                                                            num_attention_heads=4, intermediate_size=48,
                                                            image_size=16, patch_size=4, decoder_hidden_size=32,
                                                            decoder_num_hidden_layers=1, decoder_num_attention_heads=4,
                                                            decoder_intermediate_size=48)),
        "apertus": (tf.ApertusForCausalLM, tf.ApertusConfig(**_DEC)),
        "mixtral": (tf.MixtralForCausalLM, tf.MixtralConfig(**_MOE)),
        "qwen2_moe": (tf.Qwen2MoeForCausalLM, tf.Qwen2MoeConfig(**dict(_DEC, num_experts=4, num_experts_per_tok=2,
                                                                      moe_intermediate_size=24,
                                                                      shared_expert_intermediate_size=40))),
    }


def build(name, device="cpu", dtype=None):
    """The model ``name`` built as ``from_config`` builds it (on ``device``)."""
    import torch
    cls, cfg = configs()[name]
    with torch.device(device):
        return cls._from_config(cfg, dtype=dtype) if dtype is not None else cls(cfg)
