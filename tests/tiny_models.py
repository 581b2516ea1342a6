"""Tiny random models built from configs with a fixed seed (the way ``tiny-random-*`` models are made).

One table of configs serves every framework; builders save a model with ``save_pretrained``
into a folder, cached per test session by the callers' fixtures.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

SEED = 0

_BERT = {
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
}

#: name -> (model_type, config keyword arguments)
_VIT_LIKE = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "image_size": 32,
    "patch_size": 8,
    "encoder_stride": 8,
    "num_channels": 3,
    "num_labels": 3,
}

TINY_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "bert": ("bert", _BERT),
    "gpt2": (
        "gpt2",
        {"vocab_size": 99, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "pad_token_id": 0},
    ),
    "t5": (
        "t5",
        {
            "vocab_size": 99,
            "d_model": 32,
            "d_ff": 37,
            "d_kv": 8,
            "num_layers": 2,
            "num_heads": 4,
            "decoder_start_token_id": 0,
        },
    ),
    "vit": ("vit", _VIT_LIKE),
    "segformer": (
        "segformer",
        {
            "num_encoder_blocks": 2,
            "depths": [1, 1],
            "sr_ratios": [2, 1],
            "hidden_sizes": [8, 16],
            "num_attention_heads": [1, 2],
            "decoder_hidden_size": 16,
            "patch_sizes": [7, 3],
            "strides": [4, 2],
            "mlp_ratios": [2, 2],
            "num_labels": 3,
        },
    ),
    "whisper": (
        "whisper",
        {
            "vocab_size": 99,
            "d_model": 32,
            "encoder_layers": 1,
            "decoder_layers": 1,
            "encoder_attention_heads": 2,
            "decoder_attention_heads": 2,
            "encoder_ffn_dim": 32,
            "decoder_ffn_dim": 32,
            "num_mel_bins": 80,
            "max_source_positions": 30,
            "max_target_positions": 40,
            "decoder_start_token_id": 1,
            "pad_token_id": 0,
            "eos_token_id": 2,
            "bos_token_id": 1,
        },
    ),
}

_ENCODER = {"vocab_size": 99, "max_position_embeddings": 64}

#: One tiny config per model type the ONNX registry advertises; the registry walk fails for a
#: model type missing here, so nothing is advertised untested.
TINY_CONFIGS.update(
    {
        "distilbert": ("distilbert", {**_ENCODER, "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37}),
        "roberta": ("roberta", {**_BERT, "type_vocab_size": 1, "pad_token_id": 1}),
        "xlm-roberta": ("xlm-roberta", {**_BERT, "type_vocab_size": 1, "pad_token_id": 1}),
        "camembert": ("camembert", {**_BERT, "type_vocab_size": 1, "pad_token_id": 1}),
        "albert": ("albert", {**_BERT, "embedding_size": 16}),
        "electra": ("electra", {**_BERT, "embedding_size": 16}),
        "deberta-v2": (
            "deberta-v2",
            {
                **_BERT,
                "type_vocab_size": 0,
                "relative_attention": True,
                "position_buckets": 8,
                "max_relative_positions": 16,
                "pos_att_type": ["p2c", "c2p"],
                "position_biased_input": False,
            },
        ),
        "mpnet": ("mpnet", {**_BERT, "pad_token_id": 1}),
        "mobilebert": (
            "mobilebert",
            {
                **_BERT,
                "embedding_size": 16,
                "intra_bottleneck_size": 16,
                "true_hidden_size": 16,
                "num_feedforward_networks": 1,
            },
        ),
    }
)

_LLAMA_LIKE = {
    "vocab_size": 99,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}

#: Decoder-only models; grouped-query attention (2 kv heads for 4 heads) wherever the architecture has it.
#: Each has a padding token: a classification head pools at the last token that is not padding and refuses a
#: batch without one, so fine-tuned classifiers and reward models built on these decoders define it.
TINY_CONFIGS.update(
    {
        "gpt-neo": (
            "gpt_neo",
            {
                "vocab_size": 99,
                "hidden_size": 32,
                "num_layers": 2,
                "num_heads": 4,
                "attention_types": [[["global", "local"], 1]],
                "window_size": 8,
                "max_position_embeddings": 128,
                "intermediate_size": 37,
                "pad_token_id": 0,
            },
        ),
        "gptj": (
            "gptj",
            {
                "vocab_size": 99,
                "n_embd": 32,
                "n_layer": 2,
                "n_head": 4,
                "rotary_dim": 4,
                "n_positions": 128,
                "pad_token_id": 0,
            },
        ),
        "opt": (
            "opt",
            {
                "vocab_size": 99,
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "ffn_dim": 37,
                "max_position_embeddings": 128,
                "word_embed_proj_dim": 32,
                "pad_token_id": 1,
            },
        ),
        "bloom": ("bloom", {"vocab_size": 99, "hidden_size": 32, "n_layer": 2, "n_head": 4, "pad_token_id": 0}),
        "llama": ("llama", _LLAMA_LIKE),
        "mistral": ("mistral", {**_LLAMA_LIKE, "sliding_window": 64}),
        "qwen2": ("qwen2", _LLAMA_LIKE),
        "qwen3": ("qwen3", {**_LLAMA_LIKE, "head_dim": 8}),
        "phi3": ("phi3", {**_LLAMA_LIKE, "pad_token_id": 0}),
        "gemma": ("gemma", {**_LLAMA_LIKE, "head_dim": 8}),
        "gemma2": ("gemma2", {**_LLAMA_LIKE, "head_dim": 8, "sliding_window": 64, "query_pre_attn_scalar": 8}),
    }
)

_BART_LIKE = {
    "vocab_size": 99,
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 37,
    "decoder_ffn_dim": 37,
    "max_position_embeddings": 64,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "decoder_start_token_id": 2,
}

#: Encoder-decoders.
TINY_CONFIGS.update(
    {
        "mt5": ("mt5", TINY_CONFIGS["t5"][1]),
        "bart": ("bart", _BART_LIKE),
        "mbart": ("mbart", _BART_LIKE),
        "marian": (
            "marian",
            {**_BART_LIKE, "decoder_vocab_size": 99, "pad_token_id": 98, "decoder_start_token_id": 98},
        ),
        "pegasus": ("pegasus", {**_BART_LIKE, "pad_token_id": 0, "decoder_start_token_id": 0, "eos_token_id": 1}),
        "m2m-100": ("m2m_100", _BART_LIKE),
        "speech-to-text": (
            "speech_to_text",
            {
                **_BART_LIKE,
                "input_feat_per_channel": 12,
                "num_conv_layers": 2,
                "conv_channels": 16,
                "conv_kernel_sizes": [5, 5],
                "max_source_positions": 64,
                "max_target_positions": 64,
                "input_channels": 1,
            },
        ),
    }
)

_DETR_BACKBONE = {
    "model_type": "resnet",
    "embedding_size": 8,
    "hidden_sizes": [8, 8, 16, 16],
    "depths": [1, 1, 1, 1],
    "out_features": ["stage1", "stage2", "stage3", "stage4"],
}
_DETR_LIKE = {
    "use_timm_backbone": False,
    "use_pretrained_backbone": False,
    "backbone": None,  # transformers 4.57 refuses its "resnet50" default beside a backbone_config
    "backbone_config": _DETR_BACKBONE,
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 8,
    "decoder_attention_heads": 8,
    "encoder_ffn_dim": 32,
    "decoder_ffn_dim": 32,
    "num_queries": 5,
    "num_labels": 3,
}
_CONVNEXT_BACKBONE = {
    "model_type": "convnext",
    "hidden_sizes": [8, 16, 16, 32],
    "depths": [1, 1, 1, 1],
    "out_features": ["stage1", "stage2", "stage3", "stage4"],
}

#: Vision models (image size 32 where it is fixed).
TINY_CONFIGS.update(
    {
        # deit's auto mapping holds two classes: the config's architectures pick one, as in real checkpoints
        "deit": ("deit", {**_VIT_LIKE, "architectures": ["DeiTForImageClassification"]}),
        "beit": (
            "beit",
            {**_VIT_LIKE, "num_hidden_layers": 4, "use_auxiliary_head": False, "out_indices": [1, 2, 3, 4]},
        ),
        "convnext": ("convnext", {"hidden_sizes": [8, 16, 16, 32], "depths": [1, 1, 1, 1], "num_labels": 3}),
        "resnet": ("resnet", {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1], "num_labels": 3}),
        "swin": (
            "swin",
            {
                "image_size": 32,
                "patch_size": 4,
                "embed_dim": 8,
                "depths": [1, 1],
                "num_heads": [2, 2],
                "window_size": 4,
                "encoder_stride": 8,
                "num_labels": 3,
            },
        ),
        "mobilevit": (
            "mobilevit",
            {
                "image_size": 64,
                "patch_size": 2,
                "hidden_sizes": [16, 16, 16],
                "neck_hidden_sizes": [8, 8, 16, 16, 16, 16, 32],
                "num_attention_heads": 2,
                "num_labels": 3,
            },
        ),
        "dinov2": ("dinov2", {**_VIT_LIKE, "patch_size": 8}),
        "efficientnet": (
            "efficientnet",
            {"image_size": 64, "width_coefficient": 0.1, "depth_coefficient": 0.1, "hidden_dim": 128, "num_labels": 3},
        ),
        "regnet": (
            "regnet",
            {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1], "groups_width": 8, "num_labels": 3},
        ),
        "yolos": ("yolos", {**_VIT_LIKE, "image_size": [32, 32], "num_detection_tokens": 5}),
        "conditional-detr": ("conditional_detr", _DETR_LIKE),
        "table-transformer": ("table-transformer", _DETR_LIKE),
        "detr": ("detr", _DETR_LIKE),
        "dpt": (
            "dpt",
            {
                **_VIT_LIKE,
                "backbone_out_indices": [0, 1],
                "neck_hidden_sizes": [8, 16],
                "fusion_hidden_size": 16,
                "reassemble_factors": [2, 1],
                "use_auxiliary_head": False,
                "head_in_index": -1,
            },
        ),
    }
)

_TINY_TRANSFORMER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}
#: HiFi-GAN vocoders: 16 samples a frame (two 4x upsamplings), one residual kernel.
_TINY_HIFIGAN = {
    "model_in_dim": 80,
    "upsample_initial_channel": 32,
    "upsample_rates": [4, 4],
    "upsample_kernel_sizes": [8, 8],
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3]],
    "normalize_before": True,
    "initializer_range": 0.1,  # the default 0.01 gives a near-silent waveform (~1e-8): nothing to compare
}
#: Speech and image-text models (hand-written: the same in transformers 4.57 and 5).
TINY_CONFIGS.update(
    {
        # wav2vec2's seven-layer feature encoder at its real strides (320 samples a frame), 32 channels wide
        "wav2vec2": (
            "wav2vec2",
            {
                **_TINY_TRANSFORMER,
                "conv_dim": [32] * 7,
                "num_conv_pos_embeddings": 16,
                "num_conv_pos_embedding_groups": 4,
                "vocab_size": 32,
                "tdnn_dim": [32] * 5,
                "xvector_output_dim": 16,
                "classifier_proj_size": 16,
                "num_labels": 3,
            },
        ),
        # a document model: token boxes, and a 32-pixel page image of 4 x 4 patches; four coordinate and two
        # shape embeddings concatenated back to hidden_size
        "layoutlmv3": (
            "layoutlmv3",
            {
                **_BERT,
                "type_vocab_size": 1,
                "pad_token_id": 1,
                "coordinate_size": 6,
                "shape_size": 4,
                "input_size": 32,
                "patch_size": 8,  # num_labels left at 2: the question-answering head splits them into start and end
            },
        ),
        "siglip-text-model": (
            "siglip_text_model",
            {
                **_TINY_TRANSFORMER,
                "vocab_size": 99,
                "max_position_embeddings": 64,
                "bos_token_id": 0,
                "eos_token_id": 2,  # the tower pools at the last position, where tokenized text ends with it
            },
        ),
        # SpeechT5's vocoder and FastSpeech2's (the same network)
        "speecht5-hifigan": ("speecht5_hifigan", {**_TINY_HIFIGAN, "architectures": ["SpeechT5HifiGan"]}),
        "hifigan": ("hifigan", {**_TINY_HIFIGAN, "architectures": ["SpeechT5HifiGan"]}),
        "fastspeech2-conformer-hifigan": (
            "fastspeech2_conformer_hifigan",
            {**_TINY_HIFIGAN, "architectures": ["FastSpeech2ConformerHifiGan"]},
        ),
        # image-to-text reading flattened patches of 4 x 4 pixels x 3 channels (48 values after the 2 indices)
        "pix2struct": (
            "pix2struct",
            {
                "text_config": {
                    "vocab_size": 99,
                    "hidden_size": 32,
                    "d_kv": 8,
                    "d_ff": 37,
                    "num_layers": 2,
                    "num_heads": 4,
                    "relative_attention_num_buckets": 8,
                    "relative_attention_max_distance": 16,
                },
                "vision_config": {
                    "hidden_size": 32,
                    "patch_embed_hidden_size": 48,
                    "d_ff": 37,
                    "d_kv": 8,
                    "num_hidden_layers": 2,
                    "num_attention_heads": 4,
                    "seq_len": 64,
                    "relative_attention_num_buckets": 8,
                    "relative_attention_max_distance": 16,
                },
            },
        ),
        "clip": (
            "clip",
            {
                "text_config": {**_TINY_TRANSFORMER, "vocab_size": 99, "max_position_embeddings": 64},
                "vision_config": {**_TINY_TRANSFORMER, "image_size": 32, "patch_size": 8},
                "projection_dim": 32,
            },
        ),
    }
)

#: Offline reinforcement learning: a two-layer GPT-2 over trajectories of 5-wide states and 3-wide actions.
TINY_CONFIGS["decision-transformer"] = (
    "decision_transformer",
    {"state_dim": 5, "act_dim": 3, "hidden_size": 32, "n_layer": 2, "n_head": 4, "n_inner": 37, "max_ep_len": 64},
)
#: Text to audio: MusicGen with a tiny T5 text encoder (narrower than the decoder: the projection between them
#: is exported too), two codebooks and a tiny EnCodec (hop of 8 samples, 64 codes a codebook).
TINY_CONFIGS["musicgen"] = (
    "musicgen",
    {
        "text_encoder": {**TINY_CONFIGS["t5"][1], "model_type": "t5", "d_model": 24, "num_heads": 3},
        "audio_encoder": {
            "model_type": "encodec",
            "hidden_size": 16,
            "num_filters": 4,
            "upsampling_ratios": [4, 2],
            "codebook_size": 64,
            "num_lstm_layers": 1,
            "target_bandwidths": [2.0],
            "sampling_rate": 800,
            # as MusicGen's 32 kHz EnCodec: symmetric reflect padding, no shortcut convolutions
            "use_causal_conv": False,
            "use_conv_shortcut": False,
        },
        "decoder": {
            "model_type": "musicgen_decoder",  # transformers 4.57 reads the part's type from it
            "vocab_size": 64,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "ffn_dim": 37,
            "num_codebooks": 2,
            "max_position_embeddings": 128,
            "pad_token_id": 64,
            "bos_token_id": 64,
            "decoder_start_token_id": 64,
        },
    },
)
#: Text to speech: VITS with every stage at its smallest (two flows, two wave-net layers, a x16 vocoder).
TINY_CONFIGS["vits"] = (
    "vits",
    {
        "vocab_size": 38,
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "ffn_dim": 16,
        "flow_size": 16,
        "spectrogram_bins": 9,
        "upsample_initial_channel": 16,
        "upsample_rates": [4, 4],
        "upsample_kernel_sizes": [8, 8],
        "resblock_kernel_sizes": [3],
        "resblock_dilation_sizes": [[1, 2]],
        "duration_predictor_filter_channels": 16,
        "duration_predictor_num_flows": 2,
        "depth_separable_num_layers": 2,
        "prior_encoder_num_flows": 2,
        "prior_encoder_num_wavenet_layers": 2,
        "posterior_encoder_num_wavenet_layers": 2,
    },
)
#: Segment Anything at 64 pixels: an 8 x 8 grid of 8-pixel patches (windows of 4, the second layer global), a
#: 32-wide prompt encoder and mask decoder; masks come out at 32 x 32.
_TINY_SAM: dict[str, Any] = {
    "vision_config": {
        "hidden_size": 32,
        "output_channels": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "mlp_dim": 37,
        "image_size": 64,
        "patch_size": 8,
        "window_size": 4,
        "global_attn_indexes": [1],
        "num_pos_feats": 16,
        "initializer_range": 0.02,  # SAM's default (1e-10) gives an all-zero tiny encoder, which proves nothing
    },
    "prompt_encoder_config": {"hidden_size": 32, "image_size": 64, "patch_size": 8, "mask_input_channels": 8},
    "mask_decoder_config": {
        "hidden_size": 32,
        "mlp_dim": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "iou_head_hidden_dim": 32,
    },
    # the decoder's weights: at the default 0.02, the tiny decoder's masks are 1e-4 at most; here they are O(1)
    "initializer_range": 0.3,
}
TINY_CONFIGS.update(
    {
        "sam": ("sam", _TINY_SAM),
        # SAM-HQ's decoder reads the vision encoder's states: as wide as them (vit_dim)
        "sam-hq": (
            "sam_hq",
            {**_TINY_SAM, "mask_decoder_config": {**_TINY_SAM["mask_decoder_config"], "vit_dim": 32}},
        ),
        # SAM 2 at 128 pixels: a four-stage Hiera (stride 4, then 2 per stage; the fourth block global), feature
        # maps of 32, 16 and 8 pixels a side; the same decoder
        "sam2": (
            "sam2",
            {
                "vision_config": {
                    "backbone_config": {
                        "model_type": "sam2_hiera_det_model",
                        "hidden_size": 8,
                        "image_size": [128, 128],
                        "blocks_per_stage": [1, 1, 2, 1],
                        "embed_dim_per_stage": [8, 16, 32, 64],
                        "num_attention_heads_per_stage": [1, 1, 2, 2],
                        "window_size_per_stage": [4, 4, 4, 4],
                        "global_attention_blocks": [3],
                        "window_positional_embedding_background_size": [2, 2],
                    },
                    "backbone_channel_list": [64, 32, 16, 8],
                    "backbone_feature_sizes": [[32, 32], [16, 16], [8, 8]],
                    "fpn_hidden_size": 32,
                },
                "prompt_encoder_config": {**_TINY_SAM["prompt_encoder_config"], "image_size": 128, "patch_size": 16},
                "mask_decoder_config": _TINY_SAM["mask_decoder_config"],
                "initializer_range": 0.3,
            },
        ),
        # SAM 3's tracker: SAM 2's decoder on SAM 3's ViT (112 pixels: 8 x 8 patches of 14, the second layer global)
        "sam3-tracker": (
            "sam3_tracker",
            {
                "vision_config": {
                    "backbone_config": {
                        "model_type": "sam3_vit_model",
                        **_TINY_TRANSFORMER,
                        "image_size": 112,
                        "patch_size": 14,
                        "window_size": 4,
                        "global_attn_indexes": [1],
                        "pretrain_image_size": 56,
                    },
                    "backbone_feature_sizes": [[32, 32], [16, 16], [8, 8]],
                    "fpn_hidden_size": 32,
                },
                "prompt_encoder_config": {**_TINY_SAM["prompt_encoder_config"], "image_size": 112, "patch_size": 14},
                "mask_decoder_config": _TINY_SAM["mask_decoder_config"],
                "initializer_range": 0.3,
            },
        ),
    }
)

#: Canonical base task -> (tiny config name, expected model class name without framework prefix).
TASK_EXAMPLES: dict[str, tuple[str, str]] = {
    "default": ("bert", "BertModel"),
    "causal-lm": ("gpt2", "GPT2LMHeadModel"),
    "masked-lm": ("bert", "BertForMaskedLM"),
    "seq2seq-lm": ("t5", "T5ForConditionalGeneration"),
    "sequence-classification": ("bert", "BertForSequenceClassification"),
    "token-classification": ("bert", "BertForTokenClassification"),
    "question-answering": ("bert", "BertForQuestionAnswering"),
    "multiple-choice": ("bert", "BertForMultipleChoice"),
    "image-classification": ("vit", "ViTForImageClassification"),
    "object-detection": ("detr", "DetrForObjectDetection"),
    "image-segmentation": ("detr", "DetrForSegmentation"),
    "masked-im": ("vit", "ViTForMaskedImageModeling"),
    "semantic-segmentation": ("segformer", "SegformerForSemanticSegmentation"),
    "speech2seq-lm": ("whisper", "WhisperForConditionalGeneration"),
    "audio-ctc": ("wav2vec2", "Wav2Vec2ForCTC"),
    "audio-classification": ("wav2vec2", "Wav2Vec2ForSequenceClassification"),
    "audio-frame-classification": ("wav2vec2", "Wav2Vec2ForAudioFrameClassification"),
    "audio-xvector": ("wav2vec2", "Wav2Vec2ForXVector"),
    "zero-shot-image-classification": ("clip", "CLIPModel"),
    "depth-estimation": ("dpt", "DPTForDepthEstimation"),
    "reinforcement-learning": ("decision-transformer", "DecisionTransformerModel"),
    "text-to-audio": ("musicgen", "MusicgenForConditionalGeneration"),
    "mask-generation": ("sam", "SamModel"),
}


def tiny_config(name: str) -> Any:
    """The hand-written tiny config of ``name``; else the one the text walk builds for that model type."""
    import transformers

    if name not in TINY_CONFIGS:
        # tools/: the walk that measured the registry builds the same tiny model
        import media_walk
        import text_walk

        model_type = transformers_model_type(name)
        if media_walk.family_of(model_type) is not None:
            return media_walk.tiny_config(model_type)
        return text_walk.tiny_config(model_type)
    model_type, table_kwargs = TINY_CONFIGS[name]
    kwargs = copy.deepcopy(table_kwargs)  # transformers 4.57's composite configs pop their parts' model_type
    try:
        return transformers.AutoConfig.for_model(model_type, **kwargs)
    except ValueError:  # a type this transformers does not register (4.57's vocoders are all "hifigan"): by class
        return getattr(transformers, f"{kwargs['architectures'][0]}Config")(**kwargs)


def transformers_model_type(model_type: str) -> str:
    """transformers' own spelling of a (normalized) model type: ``gpt-neox`` -> ``gpt_neox``."""
    from modelexport_core.registry import normalize_model_type
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    spelled = {normalize_model_type(name): name for name in CONFIG_MAPPING_NAMES}
    return spelled.get(normalize_model_type(model_type), model_type)


def _instantiate(model_class: Any, name: str) -> Any:
    """An auto class builds from a config with ``from_config``; a concrete class is called."""
    config = tiny_config(name)
    if model_class.__name__.startswith(("Auto", "TFAuto")):
        return model_class.from_config(config)
    return model_class(config)


def build_pt_model(model_class: type, name: str) -> Any:
    import torch

    torch.manual_seed(SEED)
    return _instantiate(model_class, name).eval()


def save_pt_model(model_class: type, name: str, directory: Path, safe: bool = True) -> Path:
    model = build_pt_model(model_class, name)
    model.save_pretrained(directory)
    if not safe:  # transformers 5 only writes safetensors: make the legacy pickled checkpoint by hand
        import torch
        from safetensors.torch import load_file

        weights = directory / "model.safetensors"
        torch.save(load_file(weights), directory / "pytorch_model.bin")
        weights.unlink()
    return directory


def build_tf_model(model_class: type, name: str) -> Any:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    model = _instantiate(model_class, name)
    model(model.dummy_inputs, training=False)  # create the weights
    return model


def save_tf_model(model_class: type, name: str, directory: Path) -> Path:
    build_tf_model(model_class, name).save_pretrained(directory)
    return directory


class TinyModels:
    """Tiny models of one framework per (model type, task), built once: in memory and saved to disk."""

    def __init__(self, root: Path, framework: str) -> None:
        self.root = root
        self.framework = framework
        self._models: dict[tuple[str, str], Any] = {}
        self._dirs: dict[tuple[str, str], Path] = {}

    def _model_class(self, model_type: str, task: str) -> type:
        from modelexport_core import TasksManager

        if self.framework == "pt" and task.removesuffix("-with-past") == "default":
            # a dual encoder's text tower that no auto class maps (SigLIP's): its own class, as the text walk builds it
            import text_walk

            tower = text_walk.unmapped_towers().get(transformers_model_type(model_type))
            if tower is not None:
                import transformers

                cls_: type = getattr(transformers, tower)
                return cls_
        if self.framework == "pt" and model_type not in TINY_CONFIGS:
            # the class the media walk measured (an auto class needs a checkpoint's architectures to choose
            # between two, and PatchTST's forecaster is in no auto class)
            import media_walk

            name = transformers_model_type(model_type)
            if task in media_walk.TASKS and name in media_walk.mapping(task) and media_walk.family_for(name, task):
                cls: type = media_walk.model_class(name, task)
                return cls
        if self.framework == "pt":
            # the task's auto class that maps the type (text-to-audio: a spectrogram model, not a waveform one),
            # else the config's own class (a vocoder: in no auto class)
            from modelexport_core.plugins import get_framework

            names = TasksManager.get_autoclass_name(task, self.framework)
            own = tuple(getattr(tiny_config(model_type), "architectures", None) or ())
            return get_framework("pt").resolve_model_class(names, transformers_model_type(model_type), own)
        return TasksManager.get_model_class_for_task(task, self.framework)

    def model(self, model_type: str, task: str) -> Any:
        key = (model_type, task)
        if key not in self._models:
            build = build_pt_model if self.framework == "pt" else build_tf_model
            self._models[key] = build(self._model_class(model_type, task), model_type)
        return self._models[key]

    def directory(self, model_type: str, task: str) -> Path:
        key = (model_type, task)
        if key not in self._dirs:
            save = save_pt_model if self.framework == "pt" else save_tf_model
            self._dirs[key] = save(self._model_class(model_type, task), model_type, self.root / f"{model_type}-{task}")
        return self._dirs[key]
