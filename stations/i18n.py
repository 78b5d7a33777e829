"""Chinese first, English by choice: Flask-Babel, with the messages written in Chinese.

The English catalog is stations/translations/en/LC_MESSAGES/messages.po, compiled to the
committed messages.mo (`pybabel compile -d stations/translations`); a test keeps the two equal.
"""

from flask import request
from flask_babel import Babel
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

LANGUAGES = ("zh", "en")
LANG_COOKIE = "lang"

babel = Babel()


def chosen_language():
    """?lang= (the switch), then the remembered choice, then Accept-Language; else Chinese."""
    for choice in (request.args.get("lang"), request.cookies.get(LANG_COOKIE)):
        if choice in LANGUAGES:
            return choice
    return request.accept_languages.best_match(LANGUAGES, default="zh")


def init_app(app):
    """Bind Babel, Chinese by default."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh")
    babel.init_app(app, locale_selector=chosen_language)


KIND_NAMES = {
    "warm_station": _l("暖蜂驿站"),
    "driver_home": _l("司机之家"),
    "service_center": _l("党群服务中心"),
}
AMENITY_NAMES = {
    "drinking_water": _l("饮水"),
    "food_heating": _l("热饭"),
    "phone_charging": _l("手机充电"),
    "ebike_charging": _l("电动车充电"),
    "rest_area": _l("休息"),
    "toilet": _l("厕所"),
    "wifi": _l("Wi-Fi"),
    "air_conditioning": _l("空调"),
    "first_aid": _l("急救药箱"),
    "talk": _l("谈心"),
    "shower": _l("淋浴"),
    "laundry": _l("洗衣"),
    "parking": _l("停车"),
}
# OpenStreetMap opening_hours words, for saying the hours in words.
HOURS_WORDS = {
    "24/7": _l("全天 24 小时"),
    "Mo-Su": _l("每天"),
    "Mo-Fr": _l("周一至周五"),
    "Mo-Sa": _l("周一至周六"),
    "Sa,Su": _l("周六、周日"),
    "Mo": _l("周一"),
    "Tu": _l("周二"),
    "We": _l("周三"),
    "Th": _l("周四"),
    "Fr": _l("周五"),
    "Sa": _l("周六"),
    "Su": _l("周日"),
    "PH": _l("法定节假日"),
    "off": _l("休息"),
}


def script_text():
    """The words the page's script puts together, in the chosen language."""
    return {
        "locating": _("正在定位…"),
        "located": _("按你的当前位置排序"),
        "picked": _("按你选的位置排序"),
        "geo_denied": _("无法获取你的位置：定位权限被拒绝。"),
        "geo_failed": _("无法获取你的位置。"),
        "loading": _("正在加载…"),
        "none_found": _("附近没有符合条件的站点。试试少选几个条件。"),
        "load_failed": _("加载失败，请检查网络后重试。"),
        "stale": _("离线：这是 {time} 的列表，可能已过时。"),
        "straight": _("直线 {d}"),
        "walk": _("步行 {t}"),
        "ebike": _("电动车 {t}"),
        "minutes": _("{n} 分钟"),
        "hours_minutes": _("{h} 小时 {m} 分钟"),
        "open_until": _("营业中 · {time} 关门"),
        "open_24_7": _("营业中 · 24 小时"),
        "open": _("营业中"),
        "closed_until": _("已打烊 · {time} 开门"),
        "closed_now": _("已打烊"),
        "hours_unknown": _("营业时间未知"),
        "temporarily_closed": _("暂停开放"),
        "closed": _("已停用"),
        "tomorrow": _("明天 {time}"),
        "verified_today": _("今天核实"),
        "verified_days": _("{n} 天前核实"),
        "verified_months": _("{n} 个月前核实"),
        "never_verified": _("未核实"),
        "yes": _("有"),
        "no": _("无"),
        "unknown": _("未知"),
        "copied": _("地址已复制"),
        "copy_failed": _("无法复制，请长按地址手动复制。"),
        "my_position": _("我的位置"),
        "navigate": _("导航"),
        "open_fact": _("现在开着"),
        "yes_open": _("✓ 开着"),
        "no_open": _("✗ 没开"),
        "yes_has": _("✓ 有"),
        "no_has": _("✗ 没有"),
        "said_yes": _("{n} 位骑手{when}确认有{what}"),
        "said_no": _("{n} 位骑手{when}说没有{what}"),
        "said_open": _("{n} 位骑手{when}确认开着"),
        "said_closed": _("{n} 位骑手{when}说没开"),
        "within_24h": _(" 24 小时内"),
        "within_7d": _("近 7 天"),
        "confirmed_by_riders": _("{when}骑手确认"),
        "confirmed_by_manager": _("{when}站长确认"),
        "today": _("今天"),
        "yesterday": _("昨天"),
        "days_ago": _("{n} 天前"),
        "riders_otherwise": _("骑手反馈与此不同"),
        "may_be_out_of_date": _("信息可能已过时"),
        "checkin_thanks": _("谢谢！已记下。"),
        "checkin_repeat": _("谢谢！一小时内你的反馈只算一次，已更新。"),
        "checkin_limited": _("提交太多了，请稍后再试。"),
        "checkin_failed": _("没能发送，请检查网络后重试。"),
        "kinds": {kind: str(name) for kind, name in KIND_NAMES.items()},
        "amenities": {name: str(label) for name, label in AMENITY_NAMES.items()},
        "hours_words": {word: str(text) for word, text in HOURS_WORDS.items()},
    }
