"""Every message the terminal shows, in Japanese and English (FCS-04). One catalogue.

``text(key, lang)`` returns the message; a key missing in a language falls back to Japanese.
Lines are short: a PiT-style display shows about 16 full-width or 20 half-width characters.
"""

KINDS = {
    "ja": ("打刻", "出勤", "退勤", "休憩開始", "休憩終了"),
    "en": ("Punch", "Clock in", "Clock out", "Break start", "Break end"),
}

CATALOGUE = {
    "ready": ("カードをタッチ", "Touch your card"),
    "ready_finger": ("指を置いてください", "Place your finger"),
    "ok": ("記録しました", "Recorded"),
    "offline_saved": ("オフライン保存", "Offline, saved"),
    "already": ("打刻済みです", "Already recorded"),
    "unknown_recorded": ("未登録カード(記録)", "Unknown card, logged"),
    "unknown_refused": ("未登録のカードです", "Card not registered"),
    "random_id": ("このカードは使えません", "Card not usable"),
    "multiple": ("カードは1枚ずつ", "One card at a time"),
    "unreadable": ("もう一度タッチ", "Touch again"),
    "finger_prompt": ("指を置いてください", "Place your finger"),
    "finger_poor": ("指を置き直してください", "Place finger again"),
    "finger_none": ("指が検出されません", "No finger detected"),
    "finger_no_match": ("照合できません", "Not recognised"),
    "finger_failed": ("認証できませんでした", "Not recognised"),
    "use_card": ("カードでタッチしてください", "Use your card"),
    "use_finger": ("指で打刻してください", "Use your finger"),
    "card_first": ("先にカードをタッチ", "Touch your card first"),
    "finger_disagree": ("指紋と静脈が不一致", "Print and vein differ"),
    "finger_no_vein": ("指を奥まで置いてください", "Lay the finger flat"),
    "journal_full": ("未送信データが満杯", "Unsent log is full"),
    "journal_nearly_full": ("未送信データ残りわずか", "Unsent log nearly full"),
    "store_failed": ("記録できません", "Could not record"),
    "always_online": ("サーバーに接続できません", "Service unreachable"),
    "old_firmware": ("更新が必要です", "Update required"),
    "maintenance": ("メンテナンス中", "Maintenance"),
    "maintenance_until": ("終了予定 %s", "Until %s"),
    "offline": ("オフライン", "Offline"),
    "online": ("オンライン", "Online"),
    "reader_fault": ("リーダー異常", "Reader fault"),
    "clock_invalid": ("時刻未設定", "Clock not set"),
    "service": ("管理モード", "Service mode"),
    "pin": ("暗証番号", "PIN"),
    "pin_wrong": ("暗証番号が違います", "Wrong PIN"),
    "pin_locked": ("しばらくお待ちください", "Locked, wait"),
    "enrol_offline": ("登録はオンライン時のみ", "Enrol only online"),
    "enrol_code": ("社員コード", "Employee code"),
    "enrolling": ("登録中", "Enrolling"),
    "enrolled": ("登録しました", "Enrolled"),
    "enrol_unknown": ("社員コードがありません", "No such employee"),
    "enrol_taken": ("他の人に登録済み", "Someone else's"),
    "enrol_failed": ("登録できませんでした", "Enrolment failed"),
    "enrol_finger_failed": ("指の登録に失敗", "Finger not stored"),
    "unsent": ("未送信 %d", "Unsent %d"),
}


def text(key, lang="ja"):
    pair = CATALOGUE[key]
    return pair[1] if lang == "en" else pair[0]


def kind_name(kind, lang="ja"):
    names = KINDS["en"] if lang == "en" else KINDS["ja"]
    return names[kind] if 0 <= kind < len(names) else names[0]
