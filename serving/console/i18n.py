"""The console's words in Simplified Chinese and English, and the choice between them.

The language is the ``recsys_lang`` cookie (set by the switch, ``?lang=``), else the first of
``Accept-Language`` the console speaks, else English. Every language has every key (a test
checks it); pages get the whole table as JSON for their script.
"""

from __future__ import annotations

from fastapi import Request

LANG_COOKIE = "recsys_lang"
DEFAULT = "en"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "app": "recsys console",
        "overview": "Overview", "monitoring": "Monitoring", "users": "Users", "items": "Items",
        "experiments": "Experiments", "deploy": "Deploy", "docs": "API docs",
        "sign_in": "Sign in", "sign_out": "Sign out", "admin_key": "Admin key",
        "sign_in_hint": "Enter one of the keys in RECSYS_ADMIN_KEYS.",
        "bad_key": "That is not an admin key.", "signed_out": "Signed out.",
        "language": "Language",
        "loading": "Loading…", "error": "Error", "none": "none", "yes": "yes", "no": "no",
        "model": "Model", "version": "Version", "published_at": "Published at",
        "algorithm": "Algorithm", "metrics": "Offline metrics", "users_n": "Users",
        "items_n": "Items", "live": "Live", "default_model": "default model",
        "served": "served here", "retained": "Retained versions", "expires_in": "Expires in",
        "health": "Health", "redis": "Redis", "ready": "Ready", "up": "up", "down": "down",
        "events_per_minute": "Events per minute, by type",
        "events_per_minute_note": "Events accepted by POST /v1/events in each of the last 10 "
                                  "minutes, by time received (duplicates not counted).",
        "no_live": "Nothing is live: publish a version (recsys publish NAME@ALIAS).",
        "dau": "Daily active users: new and returning",
        "dau_note": "Users who sent at least one event that local day; new = first event seen "
                    "in the last 40 days.",
        "new_users": "New", "returning_users": "Returning", "active_users": "Active",
        "retention": "Retention by cohort",
        "retention_note": "Of the users first seen on a day, the share active again the next "
                          "day (D1) and 7 days later (D7).",
        "cohort": "Cohort", "cohort_users": "New users", "d1": "D1", "d7": "D7",
        "funnel": "Funnel: view → cart → purchase",
        "funnel_note": "Users who sent each event type over the period (each user once per "
                       "day and step).",
        "conversion_by_hour": "Conversion by local hour",
        "conversion_by_hour_note": "Purchases per view by local hour of the event, over the "
                                   "period.",
        "per_slot": "Results per slot",
        "per_slot_note": "Events while each slot was active, and pushes recorded in it.",
        "pushes": "Pushes sent", "pushes_note": "Pushes recorded by POST "
                                                "/v1/users/{id}/push, per local day.",
        "slot": "Slot", "views": "Views", "carts": "Carts", "purchases": "Purchases",
        "clicks": "Clicks", "conversion": "Conversion", "day": "Day", "events": "Events",
        "period": "Period", "days": "days", "timezone": "Time zone",
        "user_id": "User id", "look_up": "Look up", "recent_events": "Recent events",
        "recent_events_note": "The user's newest events still in the events stream.",
        "time": "Time", "event": "Event", "item": "Item", "title": "Title",
        "recommendations": "What the user gets now", "kind": "Kind", "score": "Score",
        "reason": "Reason", "fallback": "unknown user: popular list",
        "ab_variant": "A/B variant", "push_state": "Push state",
        "sent_today": "Pushes today", "cap": "Daily cap", "recently_pushed": "Recently pushed",
        "push_due": "Push due now", "no_push": "No push due",
        "known_user": "Known to the model",
        "search": "Search", "search_hint": "Item id or part of a title",
        "category": "Category", "available": "Available", "mark_unavailable": "Mark unavailable",
        "mark_available": "Mark available", "similar": "Similar items",
        "experiment": "Experiment", "status": "Status", "variant": "Variant",
        "ctr": "CTR", "interval": "95% interval", "uplift": "Uplift vs control",
        "p_value": "p-value", "verdict": "Verdict", "impressions": "Impressions",
        "by_day": "Conversion by day", "cumulative": "Cumulative conversion",
        "cumulative_short": "Cumulative", "per_day": "By day",
        "by_day_note": "Purchases per impression of each variant, per UTC day and cumulative, "
                       "with 95% intervals in the table.",
        "start": "Start", "stop": "Stop", "start_experiment": "Start an experiment",
        "name": "Name", "control": "Control", "treatment": "Treatment",
        "weight": "Weight", "kinds": "Kinds (empty = all)",
        "no_experiments": "No experiments yet.",
        "make_live": "Make live", "confirm": "Confirm", "cancel": "Cancel",
        "confirm_live": "Make this version live? Serving switches within a second.",
        "done": "Done.", "current": "current", "started": "Started", "variants": "Variants",
        "served_model": "Served model",
        "ev_view": "view", "ev_click": "click", "ev_favorite": "favorite", "ev_cart": "cart",
        "ev_share": "share", "ev_purchase": "purchase",
    },
    "zh-CN": {
        "app": "recsys 运营后台",
        "overview": "概览", "monitoring": "数据监控", "users": "用户", "items": "商品",
        "experiments": "A/B 实验", "deploy": "发布", "docs": "API 文档",
        "sign_in": "登录", "sign_out": "退出登录", "admin_key": "管理员密钥",
        "sign_in_hint": "请输入 RECSYS_ADMIN_KEYS 中的一个密钥。",
        "bad_key": "这不是管理员密钥。", "signed_out": "已退出登录。",
        "language": "语言",
        "loading": "加载中…", "error": "错误", "none": "无", "yes": "是", "no": "否",
        "model": "模型", "version": "版本", "published_at": "发布时间",
        "algorithm": "算法", "metrics": "离线指标", "users_n": "用户数",
        "items_n": "商品数", "live": "线上", "default_model": "默认模型",
        "served": "本服务在用", "retained": "保留的版本", "expires_in": "过期剩余",
        "health": "健康状态", "redis": "Redis", "ready": "就绪", "up": "正常", "down": "故障",
        "events_per_minute": "每分钟事件数（按类型）",
        "events_per_minute_note": "最近 10 分钟内 POST /v1/events 每分钟接收的事件，按接收时间统计"
                                  "（重复事件不计）。",
        "no_live": "没有线上版本：请先发布（recsys publish NAME@ALIAS）。",
        "dau": "日活跃用户：新用户与老用户",
        "dau_note": "当天（本地日期）至少发送过一个事件的用户；新用户 = 近 40 天内首次出现。",
        "new_users": "新用户", "returning_users": "老用户", "active_users": "活跃用户",
        "retention": "分群留存",
        "retention_note": "某天首次出现的用户中，次日（D1）和 7 天后（D7）再次活跃的比例。",
        "cohort": "分群", "cohort_users": "新用户数", "d1": "次日留存", "d7": "7 日留存",
        "funnel": "转化漏斗：浏览 → 加购 → 购买",
        "funnel_note": "期间内发送各类事件的用户数（每个用户每天每步计一次）。",
        "conversion_by_hour": "按本地小时的转化率",
        "conversion_by_hour_note": "期间内按事件发生的本地小时统计的购买数 / 浏览数。",
        "per_slot": "各时段效果",
        "per_slot_note": "各时段生效期间的事件数，以及在该时段记录的推送数。",
        "pushes": "推送发送数", "pushes_note": "POST /v1/users/{id}/push 记录的推送，按本地日期。",
        "slot": "时段", "views": "浏览", "carts": "加购", "purchases": "购买",
        "clicks": "点击", "conversion": "转化率", "day": "日期", "events": "事件",
        "period": "时间范围", "days": "天", "timezone": "时区",
        "user_id": "用户 ID", "look_up": "查询", "recent_events": "最近事件",
        "recent_events_note": "事件流中该用户最新的事件。",
        "time": "时间", "event": "事件", "item": "商品", "title": "标题",
        "recommendations": "该用户当前看到的推荐", "kind": "类型", "score": "得分",
        "reason": "原因", "fallback": "未知用户：热门列表",
        "ab_variant": "A/B 分组", "push_state": "推送状态",
        "sent_today": "今日推送", "cap": "每日上限", "recently_pushed": "近期已推送",
        "push_due": "当前应推送", "no_push": "当前无需推送",
        "known_user": "模型已知用户",
        "search": "搜索", "search_hint": "商品 ID 或标题关键词",
        "category": "品类", "available": "可售", "mark_unavailable": "标记为不可售",
        "mark_available": "恢复可售", "similar": "相似商品",
        "experiment": "实验", "status": "状态", "variant": "分组",
        "ctr": "点击率", "interval": "95% 置信区间", "uplift": "相对对照组提升",
        "p_value": "p 值", "verdict": "结论", "impressions": "曝光",
        "by_day": "每日转化率", "cumulative": "累计转化率",
        "cumulative_short": "累计", "per_day": "按日",
        "by_day_note": "各分组每次曝光的购买数，按 UTC 日期及累计；表中附 95% 置信区间。",
        "start": "开始", "stop": "停止", "start_experiment": "开始新实验",
        "name": "名称", "control": "对照组", "treatment": "实验组",
        "weight": "权重", "kinds": "类型（留空 = 全部）",
        "no_experiments": "还没有实验。",
        "make_live": "设为线上", "confirm": "确认", "cancel": "取消",
        "confirm_live": "确定将此版本设为线上？服务将在一秒内切换。",
        "done": "已完成。", "current": "当前", "started": "开始时间", "variants": "分组",
        "served_model": "在用模型",
        "ev_view": "浏览", "ev_click": "点击", "ev_favorite": "收藏", "ev_cart": "加购",
        "ev_share": "分享", "ev_purchase": "购买",
    },
}
LANGUAGES = tuple(STRINGS)


def _from_header(header: str) -> str | None:
    """The first language of an ``Accept-Language`` header the console speaks (by q)."""
    ranked = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return None


def language_of(request: Request) -> str:
    """``?lang=``, else the switch's cookie, else ``Accept-Language``, else English."""
    for chosen in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if chosen in STRINGS:
            return chosen
    return _from_header(request.headers.get("accept-language", "")) or DEFAULT
