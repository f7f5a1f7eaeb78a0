"""Table and column names, DDL and schema version of the LAIONet Explorer database.

Every SQL identifier used elsewhere comes from here, so a rename happens in one place.
One DuckDB file holds every dataset (LAIONet, ImageNet, ImageNetV2, ...) side by side;
rows of each table carry the ``dataset`` they belong to.
"""

from __future__ import annotations

# Bump when a table or column changes meaning; readers refuse other versions.
# 3: ``samples.filtered`` (the recipe's content rules) keys the histograms and the
# selection statistics instead of LAION's raw NSFW tag (``python -m precompute upgrade``).
SCHEMA_VERSION = 3
# The version ``python -m precompute upgrade`` turns into this one.
UPGRADABLE_SCHEMA_VERSION = 2

# Tables.
META = "meta"
CLASSES = "classes"
DATASETS = "datasets"
SAMPLES = "samples"
CANDIDATES = "candidates"
THUMBNAILS = "thumbnails"
IMAGE_EMBEDDINGS = "image_embeddings"
TEXT_EMBEDDINGS = "text_embeddings"
SYNSET_EMBEDDINGS = "synset_embeddings"
SIMILARITY_HISTOGRAMS = "similarity_histograms"
CLASS_METRICS = "class_metrics"
REJECTED = "rejected"
PREDICTIONS = "predictions"
CAPTION_DIAGNOSTICS = "caption_diagnostics"
SELECTION_STATS = "selection_stats"
SELECTION_SUBSETS = "selection_subsets"
LAB_CANDIDATES = "lab_candidates"

# Dataset kinds (datasets.kind).
KIND_TEXT_SELECTED = "text-selected"  # LAIONet-like: selected by caption alone
KIND_IMAGE_SELECTED = "image-selected"  # ImageNet-like: annotators looked at the image
KIND_CAPTIONS = "captions"  # ImageNet-Captions-like: texts of an image-selected set
KIND_TEXT_MATCHED = "text-matched"  # Section 4.3: nearest LAION caption to each such text
DATASET_KINDS = (KIND_TEXT_SELECTED, KIND_IMAGE_SELECTED, KIND_CAPTIONS, KIND_TEXT_MATCHED)

DDL = f"""
CREATE TABLE {META} (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE TABLE {CLASSES} (
    wnid VARCHAR PRIMARY KEY,
    class_index INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    lemmas VARCHAR[] NOT NULL,
    definition VARCHAR NOT NULL,
    synset_text VARCHAR NOT NULL
);
CREATE TABLE {DATASETS} (
    dataset VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    encoder VARCHAR NOT NULL,
    simulated BOOLEAN NOT NULL,
    parameters JSON NOT NULL,
    created TIMESTAMP NOT NULL
);
CREATE TABLE {SAMPLES} (
    dataset VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    url VARCHAR,
    text VARCHAR,
    wnid VARCHAR NOT NULL,
    matched_wnids VARCHAR[] NOT NULL,
    multi_label BOOLEAN NOT NULL,
    text_similarity FLOAT,
    image_similarity FLOAT,
    nsfw VARCHAR,
    filtered BOOLEAN NOT NULL DEFAULT false,
    thumbnail_id BIGINT,
    PRIMARY KEY (dataset, sample_id)
);
CREATE TABLE {CANDIDATES} (
    dataset VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    wnid VARCHAR NOT NULL,
    text_similarity FLOAT
);
CREATE TABLE {THUMBNAILS} (
    thumbnail_id BIGINT PRIMARY KEY,
    mime VARCHAR NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE {IMAGE_EMBEDDINGS} (
    dataset VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    embedding FLOAT[] NOT NULL
);
CREATE TABLE {TEXT_EMBEDDINGS} (
    dataset VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    embedding FLOAT[] NOT NULL
);
CREATE TABLE {SYNSET_EMBEDDINGS} (
    encoder VARCHAR NOT NULL,
    synset_format VARCHAR NOT NULL,
    wnid VARCHAR NOT NULL,
    embedding FLOAT[] NOT NULL
);
CREATE TABLE {SIMILARITY_HISTOGRAMS} (
    dataset VARCHAR NOT NULL,
    wnid VARCHAR NOT NULL,
    filtered BOOLEAN NOT NULL,
    multi_label BOOLEAN NOT NULL,
    bin SMALLINT NOT NULL,
    n BIGINT NOT NULL
);
CREATE TABLE {CLASS_METRICS} (
    dataset VARCHAR NOT NULL,
    threshold DOUBLE,
    wnid VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    n BIGINT NOT NULL,
    value DOUBLE,
    ci_low DOUBLE,
    ci_high DOUBLE
);
CREATE TABLE {PREDICTIONS} (
    dataset VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    top5_wnids VARCHAR[] NOT NULL
);
CREATE TABLE {CAPTION_DIAGNOSTICS} (
    dataset VARCHAR NOT NULL,
    sample_id VARCHAR NOT NULL,
    own_similarity FLOAT NOT NULL,
    false_classes_more_similar DOUBLE NOT NULL
);
CREATE TABLE {REJECTED} (
    dataset VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    sample_id VARCHAR,
    reason VARCHAR NOT NULL
);
"""

# Precomputed per-class statistics of thresholded selections (``selection_stats``) and
# the selection lab's candidates (``lab_candidates``). Optional: ``precompute metrics``
# creates them in an older database of this version, and the app computes live without
# them.
SELECTION_DDL = f"""
CREATE TABLE IF NOT EXISTS {SELECTION_STATS} (
    dataset VARCHAR NOT NULL,
    wnid VARCHAR NOT NULL,
    combo TINYINT NOT NULL,
    min_bin SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    sum_sq DOUBLE NOT NULL,
    sum_sq2 DOUBLE NOT NULL,
    s_norm2 DOUBLE NOT NULL,
    sum_p2 DOUBLE NOT NULL,
    sum_pq DOUBLE NOT NULL,
    zeta2_n BIGINT NOT NULL,
    zeta2_sum DOUBLE NOT NULL,
    zeta2_sum2 DOUBLE NOT NULL,
    image_n BIGINT NOT NULL,
    image_sum DOUBLE NOT NULL,
    image_sum2 DOUBLE NOT NULL,
    correct_1 BIGINT NOT NULL,
    correct_5 BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {SELECTION_SUBSETS} (
    dataset VARCHAR NOT NULL,
    wnid VARCHAR NOT NULL,
    bins SMALLINT[] NOT NULL,
    filtered BOOLEAN[] NOT NULL,
    multi_label BOOLEAN[] NOT NULL,
    gram FLOAT[] NOT NULL
);
CREATE TABLE IF NOT EXISTS {LAB_CANDIDATES} (
    dataset VARCHAR NOT NULL,
    position INTEGER NOT NULL,
    draw_seed INTEGER NOT NULL,
    draw_cut INTEGER NOT NULL,
    sample_id VARCHAR NOT NULL,
    wnid VARCHAR NOT NULL,
    text_similarity FLOAT,
    image_similarity FLOAT,
    nsfw VARCHAR,
    filtered BOOLEAN NOT NULL,
    multi_label BOOLEAN NOT NULL,
    true_rank INTEGER NOT NULL,
    embedding FLOAT[] NOT NULL
);
"""
DDL += SELECTION_DDL

# Table name -> one-line description, for the README and the app's schema view.
TABLE_DOCS = {
    META: "key/value facts about the build: schema_version, built_at, simulated.",
    CLASSES: "every class of the vocabulary, matched or not, in class-index order.",
    DATASETS: "one row per dataset: how it was selected (kind: text-selected, image-selected, "
    "captions, text-matched), from where, by which encoder; parameters (JSON) holds the "
    "rest, e.g. text_encoder, recall_at_1 of a text match.",
    SAMPLES: "one row per kept sample; wnid is the label, matched_wnids every class matched; "
    "nsfw is LAION's raw tag, filtered says the recipe's content rules (NSFW and OCR rules, "
    "laionet_core.content_rules) drop the sample. "
    "text_similarity is caption-to-synset cosine, except in text-matched datasets: there it "
    "is the cosine between the sample's caption and the ImageNet-Captions text that chose "
    "it (text-to-text; every best match is kept, selections use > 0.7).",
    CANDIDATES: "one row per (caption, matched class) pair with its text-to-synset similarity.",
    THUMBNAILS: "small JPEG/WebP thumbnails made at build time (never hot-linked URLs).",
    IMAGE_EMBEDDINGS: "L2-normalised image embeddings, one per sample.",
    TEXT_EMBEDDINGS: "L2-normalised caption embeddings, where a dataset has captions.",
    SYNSET_EMBEDDINGS: "L2-normalised synset-text embeddings per encoder and text format.",
    SIMILARITY_HISTOGRAMS: "per-class counts of samples per text-similarity bin, split by the "
    "filtered and multi_label flags (see selection).",
    CLASS_METRICS: "per-class metrics (intra-class similarity, recall, ...) with 95% CIs.",
    REJECTED: "samples or files that could not be used, with the reason.",
    PREDICTIONS: "a model's top-5 predicted wnids per sample (best first).",
    SELECTION_STATS: "per class, filter combination (combo) and similarity bin (min_bin): the "
    "sums that give intra-class similarity, image-to-synset similarity and zero-shot recall "
    "with intervals for the selection bin >= min_bin (laionet_core.selection_stats).",
    SELECTION_SUBSETS: "per class: up to 128 random embedded rows (bins, filtered and "
    "multi_label flags) and their "
    "pair similarities (upper triangle), for zeta2 and Figure 6a's pairs.",
    LAB_CANDIDATES: "the selection lab's candidates of a text-selected dataset (the seeded "
    "draw of laionet_core.queries_lab, in its order) with their image embeddings and "
    "true-class ranks, so the lab opens without a join over every sample.",
    CAPTION_DIAGNOSTICS: "per caption: similarity to its own synset and the share of other "
    "classes whose synset text is more similar (Section 4.2).",
}
