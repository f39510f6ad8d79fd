"""The station's words in Simplified Chinese (default) and English.  Reports stay in Chinese."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LANGUAGES", "MESSAGES", "messages", "translator"]

LANGUAGES = ("zh", "en")

#: key -> (Simplified Chinese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("县域共享诊断中心 · 阅片工作站", "County Shared Diagnostic Center · Reading Station"),
    "login": ("登录", "Log in"), "logout": ("退出", "Log out"),
    "username": ("用户名", "User name"), "password": ("密码", "Password"),
    "login_failed": ("登录失败", "Login failed"),
    "nav_worklist": ("工作列表", "Worklist"), "nav_consult": ("会诊", "Consultations"),
    "nav_clinic": ("本院检查", "Our studies"),
    "lang_switch": ("English", "中文"),
    "ai_note": ("AI 结果为预阅，仅供参考，须经医师审核。",
                "AI results are preliminary and must be reviewed by a physician."),
    "col_id": ("编号", "No."), "col_site": ("来源", "Site"), "col_modality": ("类型", "Modality"),
    "col_patient": ("患者", "Patient"), "col_state": ("状态", "State"), "col_priority": ("优先级", "Priority"),
    "col_due": ("剩余时间", "Time left"), "col_reader": ("阅片人", "Reader"), "col_received": ("接收时间", "Received"),
    "col_ai": ("AI 预阅", "AI pre-read"), "col_report": ("报告", "Report"), "col_quality": ("心电质量", "ECG quality"),
    "filter_site": ("来源", "Site"), "filter_modality": ("类型", "Modality"), "filter_state": ("状态", "State"),
    "filter_day": ("日期", "Date"), "filter_all": ("全部", "All"), "filter_apply": ("筛选", "Filter"),
    "live": ("实时更新", "Live"), "updated": ("已更新", "Updated"), "overdue": ("已超时", "Overdue"),
    "critical": ("危急", "Critical"), "open": ("打开", "Open"),
    "state_received": ("已接收", "Received"), "state_prereading": ("AI 预阅中", "AI pre-reading"),
    "state_preread": ("待审核", "Pre-read"), "state_in_review": ("审核中", "In review"),
    "state_signed": ("已签发", "Signed"), "state_returned": ("已退回", "Returned"),
    "state_escalated": ("已上转会诊", "Escalated"), "state_failed": ("AI 失败", "AI failed"),
    "priority_stat": ("急诊", "STAT"), "priority_urgent": ("加急", "Urgent"), "priority_routine": ("常规", "Routine"),
    "claimed_by": ("阅片中", "Reading"),
    "claimed_other": ("该检查正由他人阅片，您不能签发。", "Someone else is reading this study; you cannot sign it."),
    "claim_ok": ("已领取，租约自动续期", "Claimed; the lease renews while open"),
    "presets": ("窗宽窗位", "Window"), "preset_lung": ("肺窗", "Lung"), "preset_mediastinum": ("纵隔窗", "Mediastinum"),
    "preset_bone": ("骨窗", "Bone"), "preset_default": ("默认", "Default"),
    "zoom_in": ("放大", "Zoom in"), "zoom_out": ("缩小", "Zoom out"), "reset": ("复位", "Reset"),
    "measure": ("测量", "Measure"), "heatmap": ("AI 热力图", "AI heatmap"), "invert": ("反色", "Invert"),
    "priors": ("既往检查", "Priors"), "no_priors": ("无既往检查", "No prior studies"),
    "gain": ("增益", "Gain"), "speed": ("走纸速度", "Speed"), "calipers": ("测量尺", "Calipers"),
    "ai_measurements": ("AI 测量（预阅）", "AI measurements (preliminary)"),
    "ai_statements": ("AI 判读（预阅）", "AI statements (preliminary)"),
    "report": ("报告", "Report"), "findings": ("检查所见", "Findings"), "impression": ("诊断意见", "Impression"),
    "phrases": ("常用语", "Phrases"), "ai_filled": ("AI 预填", "AI pre-filled"),
    "save_draft": ("保存草稿", "Save draft"), "sign": ("签发", "Sign"),
    "sign_confirm": ("请再次输入密码以签发报告", "Enter your password again to sign"),
    "cancel": ("取消", "Cancel"), "confirm": ("确认", "Confirm"),
    "return": ("退回重拍", "Return for retake"), "return_reason": ("退回原因", "Reason"),
    "escalate": ("上转市中心会诊", "Escalate to city center"), "question": ("会诊问题", "Question"),
    "answer": ("会诊意见", "Answer"), "send": ("提交", "Send"),
    "saved": ("已保存", "Saved"), "signed_ok": ("报告已签发", "Report signed"),
    "upload": ("上传检查", "Upload"),
    "drop_here": ("将 DICOM 或心电文件拖到此处，或点击选择", "Drop DICOM or ECG files here, or click to choose"),
    "uploading": ("上传中", "Uploading"), "uploaded": ("上传完成", "Uploaded"),
    "quality_acceptable": ("质量合格", "Acceptable"),
    "quality_acceptable_with_warnings": ("合格（有提示）", "Acceptable with warnings"),
    "quality_repeat_recording": ("请重新采集", "Repeat recording"),
    "retakes": ("退回重拍的检查", "Retake requests"), "no_retakes": ("暂无退回", "No retake requests"),
    "view_pdf": ("查看 PDF", "View PDF"), "final_report": ("正式报告", "Final report"),
    "preliminary": ("AI 预阅（非正式报告）", "AI preliminary (not a report)"),
    "consult_open": ("待答复会诊", "Open consultations"), "consult_asked": ("我发起的会诊", "My questions"),
    "none": ("暂无", "None"), "keys": ("快捷键", "Shortcuts"),
    "keys_image": ("1/2/3 窗位预设 · +/- 缩放 · 方向键平移 · 0 复位 · m 测量 · h 热力图 · i 反色",
                   "1/2/3 presets · +/- zoom · arrows pan · 0 reset · m measure · h heatmap · i invert"),
    "keys_ecg": ("g 增益 · s 走纸速度 · c 测量尺 · +/- 缩放", "g gain · s speed · c calipers · +/- zoom"),
    "keys_worklist": ("j/k 上下选择 · Enter 打开", "j/k move · Enter open"),
    "back": ("返回", "Back"),
}


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` in ``lang`` (unknown keys show as themselves, so a gap is visible, not fatal)."""
    index = 1 if lang == "en" else 0
    return lambda key: MESSAGES[key][index] if key in MESSAGES else key


def messages(lang: str) -> dict[str, str]:
    """Every message in ``lang``, for the page's scripts."""
    t = translator(lang)
    return {key: t(key) for key in MESSAGES}
