"""Code run in the reference environment to render OpenCompass 0.5.4 prompts.

``RENDER`` defines ``render(...)``: a DatasetReader over the rows, the config's retriever and
templates, and ``LMTemplateParser(None)`` (a base model without a meta template), returning
the exact text OpenCompass feeds the model: one string per label (PPL) or one string (gen).
"""

RENDER = r'''
from datasets import Dataset, DatasetDict
from opencompass.openicl.icl_prompt_template import PromptTemplate
from opencompass.openicl.icl_retriever import FixKRetriever, ZeroRetriever
from opencompass.openicl.icl_dataset_reader import DatasetReader
from opencompass.models.base import LMTemplateParser


def render(train, test, input_columns, output_column, ice_template=None, prompt_template=None,
           fix=None, labels=None, mode="ppl"):
    ds = DatasetDict({"train": Dataset.from_list(train or test), "test": Dataset.from_list(test)})
    reader = DatasetReader(ds, input_columns=input_columns, output_column=output_column)
    holder = type("Holder", (), {})()
    holder.reader, holder.train, holder.test = reader, reader.dataset["train"], reader.dataset["test"]
    it = PromptTemplate(**ice_template) if ice_template else None
    pt = PromptTemplate(**prompt_template) if prompt_template else None
    retr = FixKRetriever(holder, fix_id_list=fix) if fix else ZeroRetriever(holder)
    idx = retr.retrieve()
    parser = LMTemplateParser(None)
    out = []
    for i in range(len(test)):
        ice = retr.generate_ice(idx[i], ice_template=it)
        if mode == "ppl":
            out.append([
                parser.parse_template(
                    retr.generate_label_prompt(i, ice, lab, ice_template=it, prompt_template=pt),
                    mode="ppl")
                for lab in labels])
        else:
            out.append(parser.parse_template(
                retr.generate_prompt_for_generate_task(i, ice, ice_template=it, prompt_template=pt),
                mode="gen"))
    return out
'''

CONFIG = r'''
import sys, types
from pathlib import Path
import opencompass


def load_config(relative):
    """Exec an OpenCompass dataset config file as written; the dataset classes it imports are
    stubbed (only its templates and evaluator settings are read)."""
    pkg = sys.modules["opencompass.datasets"]
    for name in ("CMMLUDataset", "CEvalDataset", "AGIEvalDataset_v2", "AGIEvalEvaluator",
                 "AGIEvalEvaluator_mcq", "GaokaoBenchDataset", "MMLUDataset",
                 "HellaswagDataset"):
        if not hasattr(pkg, name):
            setattr(pkg, name, type(name, (), {}))
    path = Path(opencompass.__file__).parent / "configs" / "datasets" / relative
    scope = {"__file__": str(path), "__name__": "oc_config"}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), scope)
    return scope
'''
