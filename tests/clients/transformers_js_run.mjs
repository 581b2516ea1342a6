// Runs one job in transformers.js (the npm package @huggingface/transformers, offline) and prints its result as JSON.
// A job is JSON on stdin: {"kind": ..., "model": folder, ...}; tests/clients/transformers_js.py writes them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
    env,
    Tensor,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSpeechSeq2Seq,
    AutoModelForImageClassification,
    pipeline,
} from '@huggingface/transformers';

env.allowRemoteModels = false;
env.useBrowserCache = false;

const job = JSON.parse(readFileSync(0, 'utf8'));
env.localModelPath = path.dirname(job.model) + path.sep;
const name = path.basename(job.model);
const options = { dtype: job.dtype ?? 'fp32', local_files_only: true };

const int64 = (rows) => new Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);
const float32 = (value) => new Tensor('float32', Float32Array.from(value.data), value.dims);
const ids = (tensor) => Array.from(tensor.tolist(), (row) => Array.from(row, Number));
const plain = (tensor) => ({ dims: tensor.dims, data: Array.from(tensor.data, Number) });

let result;
if (job.kind === 'causal-lm') {
    const model = await AutoModelForCausalLM.from_pretrained(name, options);
    const output = await model.generate({
        input_ids: int64(job.input_ids),
        attention_mask: int64(job.attention_mask),
        max_new_tokens: job.max_new_tokens,
        do_sample: false,
    });
    result = { tokens: ids(output) };
} else if (job.kind === 'seq2seq') {
    const model = await AutoModelForSeq2SeqLM.from_pretrained(name, options);
    const output = await model.generate({
        input_ids: int64(job.input_ids),
        attention_mask: int64(job.attention_mask),
        max_new_tokens: job.max_new_tokens,
        do_sample: false,
    });
    result = { tokens: ids(output) };
} else if (job.kind === 'speech') {
    const model = await AutoModelForSpeechSeq2Seq.from_pretrained(name, options);
    const output = await model.generate({
        input_features: float32(job.input_features),
        max_new_tokens: job.max_new_tokens,
        do_sample: false,
        ...(job.generate ?? {}),
    });
    result = { tokens: ids(output) };
} else if (job.kind === 'image-classification') {
    const model = await AutoModelForImageClassification.from_pretrained(name, options);
    const output = await model({ pixel_values: float32(job.pixel_values) });
    result = { logits: plain(output.logits) };
} else if (job.kind === 'feature-extraction') {
    if (job.sentences) {  // the pipeline, tokenizer included: what a user of the library calls
        const extractor = await pipeline('feature-extraction', name, options);
        const output = await extractor(job.sentences, { pooling: job.pooling ?? 'mean', normalize: job.normalize ?? true });
        result = { embeddings: plain(output) };
    } else {
        const model = await AutoModel.from_pretrained(name, options);
        const feeds = { input_ids: int64(job.input_ids), attention_mask: int64(job.attention_mask) };
        if (job.token_type_ids) feeds.token_type_ids = int64(job.token_type_ids);
        const output = await model(feeds);
        result = { last_hidden_state: plain(output.last_hidden_state) };
    }
} else {
    throw new Error(`unknown job kind ${job.kind}`);
}
process.stdout.write(JSON.stringify(result));
