"""C-Eval, 5-shot, 52 subjects, **val** split (1,346 items; test labels are hidden).

Base models (PPL) follow OpenCompass ``ceval_ppl_578f8d``: HUMAN ``以下是中国关于{科目}考试的单项
选择题，请选出其中的正确答案。\n{question}\nA. ..\nD. {D}\n答案: ``, BOT ``{X}``, the 5 dev items
(``FixKRetriever([0..4])``) in front. A base model has no meta template, so OpenCompass joins
the turns with ``\n`` and the text for option X ends ``答案: \nX`` (kept as is). Chat models
(gen) follow ``ceval_gen_5f30c7`` with ``first_capital_postprocess``. The summary is the
naive average over the 52 subjects (OpenCompass ``ceval`` group, ``summarizers/groups/ceval.py``).

Data (``data``): the HF ``ceval/ceval-exam`` csv layout ``{dev,val}/{subject}_{split}.csv``
(header ``id,question,A,B,C,D,answer[,explanation]``) at ``ceval/`` (shared data) or
OpenCompass's ``ceval/formal_ceval/``; ``evals data fetch`` takes those csv files from a GitHub
copy of the hub's (TsingmaoAI/MI-optimize) at a pinned commit, verified file by file.
"""
# ruff: noqa: RUF002  (the docstring quotes the prompts verbatim)

from __future__ import annotations

from evals.benchmarks.base import register
from evals.benchmarks.examination._exam_zh import Options, ZhExam, ZhExamData
from evals.data_sources import DataSpec, Layout, remote

# OpenCompass ceval_subject_mapping (configs/datasets/ceval/ceval_ppl_578f8d.py), Chinese names
SUBJECTS: dict[str, str] = {
    "computer_network": "计算机网络",
    "operating_system": "操作系统",
    "computer_architecture": "计算机组成",
    "college_programming": "大学编程",
    "college_physics": "大学物理",
    "college_chemistry": "大学化学",
    "advanced_mathematics": "高等数学",
    "probability_and_statistics": "概率统计",
    "discrete_mathematics": "离散数学",
    "electrical_engineer": "注册电气工程师",
    "metrology_engineer": "注册计量师",
    "high_school_mathematics": "高中数学",
    "high_school_physics": "高中物理",
    "high_school_chemistry": "高中化学",
    "high_school_biology": "高中生物",
    "middle_school_mathematics": "初中数学",
    "middle_school_biology": "初中生物",
    "middle_school_physics": "初中物理",
    "middle_school_chemistry": "初中化学",
    "veterinary_medicine": "兽医学",
    "college_economics": "大学经济学",
    "business_administration": "工商管理",
    "marxism": "马克思主义基本原理",
    "mao_zedong_thought": "毛泽东思想和中国特色社会主义理论体系概论",
    "education_science": "教育学",
    "teacher_qualification": "教师资格",
    "high_school_politics": "高中政治",
    "high_school_geography": "高中地理",
    "middle_school_politics": "初中政治",
    "middle_school_geography": "初中地理",
    "modern_chinese_history": "近代史纲要",
    "ideological_and_moral_cultivation": "思想道德修养与法律基础",
    "logic": "逻辑学",
    "law": "法学",
    "chinese_language_and_literature": "中国语言文学",
    "art_studies": "艺术学",
    "professional_tour_guide": "导游资格",
    "legal_professional": "法律职业资格",
    "high_school_chinese": "高中语文",
    "high_school_history": "高中历史",
    "middle_school_history": "初中历史",
    "civil_servant": "公务员",
    "sports_science": "体育学",
    "plant_protection": "植物保护",
    "basic_medicine": "基础医学",
    "clinical_medicine": "临床医学",
    "urban_and_rural_planner": "注册城乡规划师",
    "accountant": "注册会计师",
    "fire_engineer": "注册消防工程师",
    "environmental_impact_assessment_engineer": "环境影响评价工程师",
    "tax_accountant": "税务师",
    "physician": "医师资格",
}


@register
class CEval(ZhExam):
    name = "ceval"
    exam = ZhExamData("ceval", "val", True, "question", "answer", SUBJECTS)
    data = DataSpec(
        layouts=(Layout("evals", "ceval", ("val", "dev")),
                 Layout("opencompass", "ceval/formal_ceval", ("val", "dev"))),
        remote=remote("ceval"), items=1346, license="CC BY-NC-SA 4.0")
    bot_prefix = ""

    def human(self, subject_zh: str, question: str, o: Options) -> str:
        return (
            f"以下是中国关于{subject_zh}考试的单项选择题，请选出其中的正确答案。\n{question}"
            f"\nA. {o[0]}\nB. {o[1]}\nC. {o[2]}\nD. {o[3]}\n答案: "
        )
