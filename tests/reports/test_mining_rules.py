"""One test per mining rule: negation scope, lists, uncertainty, severity attachment, distractors."""

from __future__ import annotations

import pandas as pd
import pytest

from agcl.reports.aggregate import aggregate
from agcl.reports.mining import ReportMiner, mine_reports, normalize_text


def _table(miner: ReportMiner, text: str) -> dict[str, tuple[str, str]]:
    table = aggregate(miner.mine([("r", text)]))
    return {r.label: (r.status, r.severity) for r in table.itertuples()}


CASES = [
    # negation and its scope
    ("No pleural effusion.", {"Effusion": ("negative", "none")}),
    ("No large pleural effusion.", {"Effusion": ("negative", "none")}),
    ("No focal consolidation, pneumothorax or large pleural effusion.",
     {"Consolidation": ("negative", "none"), "Pneumothorax": ("negative", "none"), "Effusion": ("negative", "none")}),
    ("No pneumothorax, small left pleural effusion.",
     {"Pneumothorax": ("negative", "none"), "Effusion": ("positive", "mild")}),
    ("No pneumothorax but there is a small right effusion.",
     {"Pneumothorax": ("negative", "none"), "Effusion": ("positive", "mild")}),
    ("No effusion; however, mild atelectasis is present at the left base.",
     {"Effusion": ("negative", "none"), "Atelectasis": ("positive", "mild")}),
    ("No consolidation, although there is mild edema.", {"Consolidation": ("negative", "none"), "Edema": ("positive", "mild")}),
    ("No pneumothorax with the exception of a tiny apical pneumothorax on the left.",
     {"Pneumothorax": ("positive", "mild")}),
    ("Negative for pneumothorax. Lungs are free of consolidation.",
     {"Pneumothorax": ("negative", "none"), "Consolidation": ("negative", "none")}),
    ("Cardiomegaly without pulmonary edema.", {"Cardiomegaly": ("positive", "none"), "Edema": ("negative", "none")}),
    ("The right pleural effusion has resolved.", {"Effusion": ("negative", "none")}),
    ("Interval resolution of the right lower lobe pneumonia.", {"Pneumonia": ("negative", "none")}),
    ("Resolved left pneumothorax.", {"Pneumothorax": ("negative", "none")}),
    ("Pneumothorax is not seen.", {"Pneumothorax": ("negative", "none")}),
    ("No change in the small left pleural effusion.", {"Effusion": ("positive", "mild")}),
    ("There is no focal opacity to suggest pneumonia.", {"Pneumonia": ("negative", "none")}),
    ("There are no XXXX of a pleural effusion.", {"Effusion": ("negative", "none")}),
    ("Pneumothorax: none. Effusion: small on the left.",
     {"Pneumothorax": ("negative", "none"), "Effusion": ("positive", "mild")}),
    ("Pulmonary edema is unlikely.", {"Edema": ("negative", "none")}),
    ("No evidence of pleural effusion.. Mild cardiomegaly.",   # ".." is one token and ends the sentence
     {"Effusion": ("negative", "none"), "Cardiomegaly": ("positive", "mild")}),
    # uncertainty
    ("Possible small right pleural effusion.", {"Effusion": ("uncertain", "none")}),
    ("Basilar opacity may represent atelectasis.", {"Atelectasis": ("uncertain", "none")}),
    ("Pneumonia cannot be excluded.", {"Pneumonia": ("uncertain", "none")}),
    ("Small pneumothorax can't be excluded.", {"Pneumothorax": ("uncertain", "none")}),
    ("Pneumonia is less likely.", {"Pneumonia": ("uncertain", "none")}),
    ("Cannot exclude early pneumonia.", {"Pneumonia": ("uncertain", "none")}),
    ("Suspected left pneumothorax.", {"Pneumothorax": ("uncertain", "none")}),
    ("Right basilar atelectasis versus infiltrate.",
     {"Atelectasis": ("uncertain", "none"), "Infiltration": ("uncertain", "none")}),
    ("Cardiomegaly and small left effusion versus pleural thickening.",
     {"Cardiomegaly": ("positive", "none"), "Effusion": ("uncertain", "none"),
      "Pleural_Thickening": ("uncertain", "none")}),
    ("Borderline cardiomegaly.", {"Cardiomegaly": ("uncertain", "none")}),
    ("The heart size is borderline.", {"Cardiomegaly": ("uncertain", "none")}),
    ("Findings likely represent mild edema.", {"Edema": ("uncertain", "none")}),
    ("Opacity suggestive of pneumonia.", {"Pneumonia": ("uncertain", "none")}),
    ("Bony overlap could obscure a small pulmonary nodule.", {"Nodule": ("uncertain", "none")}),
    ("Infiltrate is less likely but not entirely excluded.", {"Infiltration": ("uncertain", "none")}),
    # severity: modifier, predicate, ranges, change words, distractors
    ("Small left pleural effusion.", {"Effusion": ("positive", "mild")}),
    ("Moderate cardiomegaly.", {"Cardiomegaly": ("positive", "moderate")}),
    ("Large right apical pneumothorax.", {"Pneumothorax": ("positive", "severe")}),
    ("Heart size is mildly enlarged.", {"Cardiomegaly": ("positive", "mild")}),
    ("The cardiac silhouette is markedly enlarged.", {"Cardiomegaly": ("positive", "severe")}),
    ("Slightly enlarged heart.", {"Cardiomegaly": ("positive", "mild")}),
    ("The left effusion is large.", {"Effusion": ("positive", "severe")}),
    ("Bilateral effusions are small to moderate in size.", {"Effusion": ("positive", "moderate")}),
    ("Mild to moderate cardiomegaly.", {"Cardiomegaly": ("positive", "moderate")}),
    ("Moderate-to-large left pleural effusion.", {"Effusion": ("positive", "severe")}),
    ("Moderate-sized hiatal hernia.", {"Hernia": ("positive", "moderate")}),
    ("Middle-size right pleural effusion.", {"Effusion": ("positive", "moderate")}),
    ("Massive cardiomegaly.", {"Cardiomegaly": ("positive", "severe")}),
    ("Trace right pleural fluid.", {"Effusion": ("positive", "mild")}),
    ("Extensive fibrotic changes in the right lung.", {"Fibrosis": ("positive", "severe")}),
    ("Mild cardiomegaly and atelectasis.", {"Cardiomegaly": ("positive", "mild"), "Atelectasis": ("positive", "none")}),
    ("Small lung volumes with bibasilar atelectasis.", {"Atelectasis": ("positive", "none")}),
    ("Mild degenerative changes of the spine. Left basilar atelectasis.", {"Atelectasis": ("positive", "none")}),
    ("Slightly increased right pleural effusion.", {"Effusion": ("positive", "none")}),
    ("Small but increasing right pleural effusion.", {"Effusion": ("positive", "mild")}),
    ("Large hiatal hernia and small left effusion.",
     {"Hernia": ("positive", "severe"), "Effusion": ("positive", "mild")}),
    ("Pleural effusion and small pneumothorax.",
     {"Effusion": ("positive", "none"), "Pneumothorax": ("positive", "mild")}),
    # vocabulary, exclusions and heart statements
    ("Small pericardial effusion.", {}),
    ("Massive splenomegaly.", {}),
    ("A large mass in the right upper lobe.", {"Mass": ("positive", "severe")}),
    ("Small calcified nodule in the left upper lobe. Calcified granuloma.", {}),
    ("Calcified right hilar nodules.", {}),
    ("Small non-calcified nodule in the left upper lobe.", {"Nodule": ("positive", "mild")}),
    ("Nodular opacity in the right midlung.", {"Nodule": ("positive", "none")}),
    ("Subcutaneous emphysema in the neck.", {}),
    ("Severe emphysema.", {"Emphysema": ("positive", "severe")}),
    ("Heart size is normal.", {"Cardiomegaly": ("negative", "none")}),
    ("Normal cardiac silhouette.", {"Cardiomegaly": ("negative", "none")}),
    ("The cardiomediastinal silhouette is within normal limits.", {"Cardiomegaly": ("negative", "none")}),
    ("Heart size, mediastinal contour, and pulmonary vascularity are within normal limits.",
     {"Cardiomegaly": ("negative", "none")}),
    ("The heart is not enlarged.", {"Cardiomegaly": ("negative", "none")}),
    ("Mediastinal contours are normal.", {}),
    ("Enlarged cardiac silhouette.", {"Cardiomegaly": ("positive", "none")}),
    ("Pulmonary vascular congestion.", {"Edema": ("positive", "none")}),
    ("Collapse of the left lower lobe.", {"Atelectasis": ("positive", "none")}),
    ("Compression deformity with collapse of the T12 vertebral body.", {}),
    ("Left apical pleural thickening.", {"Pleural_Thickening": ("positive", "none")}),
    ("Small hiatal hernia.", {"Hernia": ("positive", "mild")}),
    ("Right upper lobe infiltrate.", {"Infiltration": ("positive", "none")}),
    # infection language names Pneumonia only as a possibility (hedged term: at most uncertain)
    ("Findings consistent with an infectious process.", {"Pneumonia": ("uncertain", "none")}),
    ("Question of atypical infection.", {"Pneumonia": ("uncertain", "none")}),
    ("Airspace disease in the left base may reflect infection.", {"Pneumonia": ("uncertain", "none")}),
    ("No evidence of active infection.", {"Pneumonia": ("negative", "none")}),
    ("Right lower lobe pneumonia. Question of atypical infection.", {"Pneumonia": ("positive", "none")}),
    ("Residuals of prior granulomatous infection.", {}),
    ("Calcified lymph nodes suggesting prior histoplasmosis infection.", {}),
    # alternatives (CheXpert convention): each alternative is uncertain; a negation still wins
    ("Left basilar atelectasis/scarring.", {"Atelectasis": ("uncertain", "none")}),
    ("Minimal left basilar scarring or subsegmental atelectasis.", {"Atelectasis": ("uncertain", "none")}),
    ("Bibasilar atelectasis/infiltrate.", {"Atelectasis": ("uncertain", "none"), "Infiltration": ("uncertain", "none")}),
    ("Compressive atelectasis or infiltrate in the right base.",
     {"Atelectasis": ("uncertain", "none"), "Infiltration": ("uncertain", "none")}),
    ("Opacities compatible with atelectasis or scarring.", {"Atelectasis": ("uncertain", "none")}),
    ("Opacities compatible with atelectasis.", {"Atelectasis": ("positive", "none")}),
    ("Left lower lobe pneumonia and/or pleural effusion.",
     {"Pneumonia": ("uncertain", "none"), "Effusion": ("uncertain", "none")}),
    ("Differential diagnosis includes atelectasis, infiltrate, pulmonary edema.",
     {"Atelectasis": ("uncertain", "none"), "Infiltration": ("uncertain", "none"), "Edema": ("uncertain", "none")}),
    ("No pneumothorax or pleural effusion.", {"Pneumothorax": ("negative", "none"), "Effusion": ("negative", "none")}),
    ("No evidence of consolidation, large pleural effusion/pneumothorax.",
     {"Consolidation": ("negative", "none"), "Effusion": ("negative", "none"), "Pneumothorax": ("negative", "none")}),
    ("No significant change in right pneumothorax or pleural fluid.",
     {"Pneumothorax": ("positive", "none"), "Effusion": ("positive", "none")}),
    ("Small/moderate right effusion.", {"Effusion": ("positive", "moderate")}),
    ("Left or right lower lobe atelectasis.", {"Atelectasis": ("positive", "none")}),
    ("One or 2 small nodules.", {"Nodule": ("positive", "mild")}),
    ("Mild residual or recurrent pneumonia.", {"Pneumonia": ("positive", "mild")}),
    # hedges
    ("Apparent cardiomegaly.", {"Cardiomegaly": ("uncertain", "none")}),
    ("No apparent pneumothorax.", {"Pneumothorax": ("negative", "none")}),
    ("Opacity most likely representing atelectasis.", {"Atelectasis": ("uncertain", "none")}),
    ("Opacities favoring atelectasis.", {"Atelectasis": ("uncertain", "none")}),
    ("Aspiration or edema are also possible.", {"Edema": ("uncertain", "none")}),
    # severity across a mask, commas and coordination
    ("Mild XXXX cardiomegaly.", {"Cardiomegaly": ("positive", "mild")}),
    ("Moderate right-sided pneumothorax.", {"Pneumothorax": ("positive", "moderate")}),
    ("Moderate right XXXX pneumothorax.", {"Pneumothorax": ("positive", "moderate")}),
    ("Mild cardiomegaly and moderate effusion.",
     {"Cardiomegaly": ("positive", "mild"), "Effusion": ("positive", "moderate")}),
    ("Cardiomegaly is mild and effusion moderate.",
     {"Cardiomegaly": ("positive", "mild"), "Effusion": ("positive", "moderate")}),
    ("Mild, stable cardiomegaly.", {"Cardiomegaly": ("positive", "mild")}),
    ("Mild globular cardiomegaly.", {"Cardiomegaly": ("positive", "mild")}),
    ("Heart size is moderately increased.", {"Cardiomegaly": ("positive", "moderate")}),
    # heart size stated as a size: "large" states the enlargement, only a degree word grades it
    ("Heart size remains slightly large.", {"Cardiomegaly": ("positive", "mild")}),
    ("The heart is large.", {"Cardiomegaly": ("positive", "none")}),
    ("Heart size XXXX large.", {"Cardiomegaly": ("positive", "none")}),
    ("The heart XXXX is slightly large.", {"Cardiomegaly": ("positive", "mild")}),
    ("Heart size mildly to moderately enlarged.", {"Cardiomegaly": ("positive", "moderate")}),
    ("The cardiac XXXX is now mildly enlarged.", {"Cardiomegaly": ("positive", "mild")}),
    ("The cardiac XXXX is large.", {"Cardiomegaly": ("positive", "none")}),
    ("Moderate increase in size of the cardiac silhouette.", {"Cardiomegaly": ("positive", "moderate")}),
    ("No increase in heart size.", {}),
    ("Heart size is upper limits normal or mildly enlarged.", {"Cardiomegaly": ("uncertain", "none")}),
    ("The heart silhouette and mediastinal contours are not enlarged.", {"Cardiomegaly": ("negative", "none")}),
    ("Heart XXXX, mediastinum, XXXX, bony structures and lung XXXX are unremarkable.",
     {"Cardiomegaly": ("negative", "none")}),
    ("Frontal and lateral views show normal size and configuration of the cardiac silhouette.",
     {"Cardiomegaly": ("negative", "none")}),
    ("The cardiac mediastinal silhouettes are normal.", {"Cardiomegaly": ("negative", "none")}),
    ("The heart is normal in size, large hiatal hernia.",
     {"Cardiomegaly": ("negative", "none"), "Hernia": ("positive", "severe")}),
    # pneumothorax size: words, measurements (cm, mm, %) and tension; a degree word beats a measurement
    ("Persistent 8mm pneumothorax.", {"Pneumothorax": ("positive", "mild")}),
    ("Stable 1 cm right apical pneumothorax.", {"Pneumothorax": ("positive", "mild")}),
    ("Right-sided pneumothorax noted measuring approximately 1.8 cm from the right apex.",
     {"Pneumothorax": ("positive", "mild")}),
    ("There is a right-sided pneumothorax with 10 mm in maximal thickness.", {"Pneumothorax": ("positive", "mild")}),
    ("Right apical pneumothorax measuring 2.4 cm.", {"Pneumothorax": ("positive", "moderate")}),
    ("This pneumothorax measures up to 3.5 cm in maximum width at the apex.", {"Pneumothorax": ("positive", "severe")}),
    ("Approximately 30 % right pneumothorax.", {"Pneumothorax": ("positive", "moderate")}),
    ("Moderate right-sided pneumothorax measuring approximately 3.3 cm in the right apex.",
     {"Pneumothorax": ("positive", "moderate")}),
    ("Small 3.3 mm right-sided pneumothorax.", {"Pneumothorax": ("positive", "mild")}),
    ("Thin right apical pneumothorax.", {"Pneumothorax": ("positive", "mild")}),
    ("Left tension pneumothorax.", {"Pneumothorax": ("positive", "severe")}),
    ("No tension pneumothorax.", {"Pneumothorax": ("negative", "none")}),
    ("A 3 cm right pleural effusion. Thin pleural effusion.", {"Effusion": ("positive", "none")}),  # sizes grade Pneumothorax only
    ("Moderate right-sided hemopneumothorax.",
     {"Pneumothorax": ("positive", "moderate"), "Effusion": ("positive", "moderate")}),
    ("Small left pleural effusion/hemothorax.", {"Effusion": ("positive", "mild")}),  # one effusion, not alternatives
    # the mask XXXX neither negates nor asserts, and invents no finding
    ("No XXXX infiltrates.", {"Infiltration": ("negative", "none")}),
    ("No XXXX focal airspace consolidation or pleural effusion.",
     {"Consolidation": ("negative", "none"), "Effusion": ("negative", "none")}),
    ("Pneumothorax is XXXX not seen.", {"Pneumothorax": ("negative", "none")}),
    ("Possible XXXX effusions.", {"Effusion": ("uncertain", "none")}),
    ("XXXX bilateral pleural effusions.", {"Effusion": ("positive", "none")}),
    ("Mild XXXX XXXX atelectasis.", {"Atelectasis": ("positive", "mild")}),
    ("Opacity XXXX due to discoid atelectasis and/or XXXX scarring.", {"Atelectasis": ("uncertain", "none")}),
    ("Costophrenic XXXX blunting. The heart and pulmonary XXXX are normal.", {"Cardiomegaly": ("negative", "none")}),
    # lists without a conjunction stay under their negation; a severity word or a verb ends them
    ("Negative for pneumothorax, pleural effusion.",
     {"Pneumothorax": ("negative", "none"), "Effusion": ("negative", "none")}),
    ("The lungs are clear of focal airspace disease, pneumothorax, pleural effusion.",
     {"Pneumothorax": ("negative", "none"), "Effusion": ("negative", "none")}),
    ("No pneumothorax, cardiomegaly is stable.", {"Pneumothorax": ("negative", "none"), "Cardiomegaly": ("positive", "none")}),
    # cues and vocabulary
    ("It would be difficult to completely exclude a superimposed pneumonia.", {"Pneumonia": ("uncertain", "none")}),
    ("Evaluation for pneumothorax is limited by the exclusion of the apices.", {"Pneumothorax": ("uncertain", "none")}),
    ("Recommend CT for evaluation of this nodule.", {"Nodule": ("positive", "none")}),
    ("Partial collapse of the left upper and lower lobes.", {"Atelectasis": ("positive", "none")}),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_rule(miner: ReportMiner, text: str, expected: dict[str, tuple[str, str]]) -> None:
    assert _table(miner, text) == expected


def test_report_level_precedence_and_most_severe(miner: ReportMiner) -> None:
    text = ("FINDINGS: No pleural effusion. Possible small right effusion.\n\n"
            "IMPRESSION: Small left pleural effusion. Large right pleural effusion. Mild cardiomegaly? ")
    got = _table(miner, text)
    assert got["Effusion"] == ("positive", "severe")
    assert got["Cardiomegaly"] == ("uncertain", "none")  # "?" after the finding is a post-cue
    assert _table(miner, "No effusion. Effusion cannot be excluded.")["Effusion"] == ("uncertain", "none")


def test_evidence_is_the_deciding_sentence(miner: ReportMiner) -> None:
    table = aggregate(miner.mine([("r", "No effusion. Moderate left effusion. Small right effusion.")]))
    assert table.loc[0, "evidence"] == "Moderate left effusion."


def test_sections_without_final_period_stay_separate_sentences(miner: ReportMiner) -> None:
    # the blank line ends "No pneumothorax" so the negation does not reach the impression
    assert _table(miner, "No pneumothorax\n\nsmall effusion") == {
        "Pneumothorax": ("negative", "none"), "Effusion": ("positive", "mild")}
    assert normalize_text("a\nb  c\n \n d") == "a b c\n\nd"


def test_mine_reports_mention_columns_and_purity() -> None:
    pairs = [("a", "Small left pleural effusion."), ("b", "")]
    before = list(pairs)
    mentions = mine_reports(pairs)
    assert pairs == before
    assert list(mentions.columns[:5]) == ["id", "label", "status", "severity", "evidence"]
    row = mentions.iloc[0]
    assert (row["id"], row["label"], row["severity_word"], row["term"]) == ("a", "Effusion", "Small", "pleural effusion")


def test_aggregate_does_not_mutate_and_handles_empty() -> None:
    mentions = pd.DataFrame({"id": ["x", "x"], "label": ["Effusion", "Effusion"], "status": ["negative", "positive"],
                             "severity": ["none", "moderate"], "evidence": ["a", "b"]})
    copy = mentions.copy()
    out = aggregate(mentions)
    pd.testing.assert_frame_equal(mentions, copy)
    assert out.to_dict("records") == [
        {"id": "x", "label": "Effusion", "status": "positive", "severity": "moderate", "evidence": "b"}]
    assert list(aggregate(mentions.iloc[:0]).columns) == ["id", "label", "status", "severity", "evidence"]
