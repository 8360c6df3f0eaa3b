"""Labels of the training-data summary in English and Korean.

A plain dict per language rather than a compiled gettext catalogue: about sixty fixed strings ship with
the code, a reviewer reads both languages side by side in this one file, there is no build step, and a
test checks that both languages have every key. Numbers and dates are formatted with Babel (the house
choice for locale data).
"""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "doc_title": "Public summary of the content used to train {model}",
        "template": "Structure: European Commission template for the public summary of training content "
                    "(AI Act Article 53(1)(d)). Filled from signed clearance evidence, not by hand.",
        "yes": "yes", "no": "no", "unknown": "not covered by the clearance evidence", "none": "none",
        "s1.1": "1.1 Provider identification", "s1.2": "1.2 Model identification",
        "s1.3": "1.3 Modalities, overall training data size and other characteristics",
        "s2.1": "2.1 Publicly available datasets",
        "s2.2.1": "2.2.1 Datasets commercially licensed by rights holders or their representatives",
        "s2.2.2": "2.2.2 Private datasets obtained from other third parties",
        "s2.3": "2.3 Data crawled and scraped by or on behalf of the provider", "s2.4": "2.4 User data",
        "s2.5": "2.5 Synthetic data", "s2.6": "2.6 Other sources of data",
        "s3.1": "3.1 Respect of reservations of rights from text and data mining",
        "s3.2": "3.2 Removal of illegal content", "s3.3": "3.3 Other information",
        "screators": "For creators: registries, clearances, works excluded, licensed and paid",
        "provider_name": "Provider", "provider_contact": "Contact", "authorised_representative": "Authorised representative",
        "authorised_representative_contact": "Representative's contact",
        "versioned_model_names": "Versioned model name(s)", "model_dependencies": "Model dependencies (base model)",
        "placed_on_market": "Date placed on the Union market", "modalities": "Modalities", "size": "Size",
        "content_types": "Types of content", "latest_acquisition_date": "Latest date of data acquisition",
        "collection_ongoing": "Collection ongoing", "linguistic_characteristics": "Linguistic characteristics",
        "other_characteristics": "Other characteristics", "comments": "Comments", "used": "Used",
        "large_datasets": "Datasets", "other_description": "Other datasets", "works_licensed": "Works licensed",
        "datasets": "Datasets", "description": "Description", "crawlers": "Crawlers", "purposes": "Purposes",
        "crawler_behaviour": "Crawler behaviour", "collection_period": "Period of collection",
        "content_description": "Content", "top_domains": "Most relevant domains (by volume)",
        "domains_rule": "Rule", "from_model_interactions": "From interactions with the model",
        "from_other_services": "From the provider's other services", "models": "Models used",
        "code_of_practice_signatory": "Signatory of the GPAI Code of Practice", "measures": "Measures",
        "opt_out_protocols": "Opt-out protocols honoured", "items_excluded": "Items excluded",
        "items_excluded_by_reservation": "Items excluded by a reservation (deny)",
        "registries": "Registries and snapshots", "clearances": "Clearances", "works": "Works",
        "licence_offers_declined": "Licence offers not taken (works excluded)", "by_organisation": "By organisation",
        "matched": "recognised", "excluded": "excluded", "licensed": "licensed", "allowed": "allowed by their terms",
        "paid": "paid", "items": "items", "items_used": "items used", "organisation": "Organisation",
        "independent": "(no organisation)",
        "note_items_unit": "items after clearance (tokens are not measured by the clearance)",
        "note_no_evidence": "The clearance evidence does not cover this; the provider must state it.",
        "note_licensed": "Licensors and works are not named, as the template allows; creators' figures are below.",
        "note_domains": "top 10 % of domains by number of items, at least one",
        "measure_permission": "Permission first: only items whose rights holders allowed the use, or licensed "
                              "it to the provider, were used; unregistered items were excluded.",
        "measure_reservation": "Reservation mode: items nobody registered or reserved were used; explicit "
                               "reservations and registry denials were excluded.",
        "measure_registry": "Every item was recognised by content against signed registry snapshots and "
                            "decided on its rights holders' declarations.",
        "measure_web": "Machine-readable reservations at each item's URL were read and honoured.",
        "measure_log": "The signed clearance manifests are published in a public append-only log, so a "
                       "rights holder can check whether a work was used.",
    },
    "ko": {
        "doc_title": "{model} 학습에 사용된 콘텐츠의 공개 요약",
        "template": "구성: 유럽연합 집행위원회의 학습 콘텐츠 공개 요약 템플릿(AI법 제53조 제1항 (d)). "
                    "서명된 이용 허락 확인(클리어런스) 증거로 자동 작성되었으며, 직접 입력한 내용이 아닙니다.",
        "yes": "예", "no": "아니요", "unknown": "클리어런스 증거로는 확인되지 않음", "none": "없음",
        "s1.1": "1.1 제공자 식별", "s1.2": "1.2 모델 식별",
        "s1.3": "1.3 모달리티, 전체 학습 데이터 규모 및 기타 특성",
        "s2.1": "2.1 공개 데이터셋",
        "s2.2.1": "2.2.1 권리자 또는 그 대리인으로부터 상업적으로 이용 허락받은 데이터셋",
        "s2.2.2": "2.2.2 기타 제3자로부터 얻은 비공개 데이터셋",
        "s2.3": "2.3 제공자가 직접 또는 위탁하여 크롤링·스크래핑한 데이터", "s2.4": "2.4 이용자 데이터",
        "s2.5": "2.5 합성 데이터", "s2.6": "2.6 기타 데이터 출처",
        "s3.1": "3.1 텍스트·데이터 마이닝에 대한 권리 유보의 존중",
        "s3.2": "3.2 불법 콘텐츠 제거", "s3.3": "3.3 기타 정보",
        "screators": "창작자를 위한 정보: 레지스트리, 클리어런스, 제외·이용 허락·지급된 저작물",
        "provider_name": "제공자", "provider_contact": "연락처", "authorised_representative": "공인 대리인",
        "authorised_representative_contact": "대리인 연락처",
        "versioned_model_names": "모델 이름(버전 포함)", "model_dependencies": "모델 의존성(기반 모델)",
        "placed_on_market": "EU 시장 출시일", "modalities": "모달리티", "size": "규모",
        "content_types": "콘텐츠 유형", "latest_acquisition_date": "데이터 최종 수집일",
        "collection_ongoing": "수집 진행 여부", "linguistic_characteristics": "언어적 특성",
        "other_characteristics": "기타 특성", "comments": "비고", "used": "사용 여부",
        "large_datasets": "데이터셋", "other_description": "기타 데이터셋", "works_licensed": "이용 허락된 저작물 수",
        "datasets": "데이터셋", "description": "설명", "crawlers": "크롤러", "purposes": "목적",
        "crawler_behaviour": "크롤러 동작", "collection_period": "수집 기간",
        "content_description": "콘텐츠", "top_domains": "주요 도메인(수집량 기준)",
        "domains_rule": "기준", "from_model_interactions": "모델과의 상호작용에서 수집",
        "from_other_services": "제공자의 다른 서비스에서 수집", "models": "사용된 모델",
        "code_of_practice_signatory": "범용 AI 실천강령 서명 여부", "measures": "조치",
        "opt_out_protocols": "준수한 옵트아웃 프로토콜", "items_excluded": "제외된 항목",
        "items_excluded_by_reservation": "권리 유보(거부)로 제외된 항목",
        "registries": "레지스트리와 스냅숏", "clearances": "클리어런스", "works": "저작물",
        "licence_offers_declined": "수락하지 않은 이용 허락 제안(제외된 저작물)", "by_organisation": "단체별",
        "matched": "식별됨", "excluded": "제외됨", "licensed": "이용 허락됨", "allowed": "권리자 조건상 허용됨",
        "paid": "지급됨", "items": "항목", "items_used": "사용된 항목", "organisation": "단체",
        "independent": "(단체 없음)",
        "note_items_unit": "클리어런스 후 항목 수(토큰 수는 클리어런스에서 측정하지 않음)",
        "note_no_evidence": "클리어런스 증거로는 확인되지 않으므로 제공자가 직접 밝혀야 합니다.",
        "note_licensed": "템플릿이 허용하는 대로 이용 허락자와 저작물은 밝히지 않으며, 창작자를 위한 수치는 아래에 있습니다.",
        "note_domains": "항목 수 기준 상위 10% 도메인(최소 1개)",
        "measure_permission": "허락 우선: 권리자가 이용을 허용했거나 제공자에게 이용을 허락한 항목만 사용했으며, "
                              "등록되지 않은 항목은 제외했습니다.",
        "measure_reservation": "유보 모드: 아무도 등록하거나 유보하지 않은 항목을 사용했으며, 명시적 유보와 "
                               "레지스트리의 거부는 제외했습니다.",
        "measure_registry": "모든 항목을 서명된 레지스트리 스냅숏과 내용으로 대조해 식별하고, 권리자의 선언에 따라 "
                            "판단했습니다.",
        "measure_web": "각 항목 URL의 기계 판독 가능한 권리 유보 신호를 읽고 준수했습니다.",
        "measure_log": "서명된 클리어런스 매니페스트를 공개 추가 전용 로그에 게시하여 권리자가 저작물 사용 여부를 "
                       "확인할 수 있습니다.",
    },
}
