"""Openbox configuration for the desktop: root menu from the app catalogue, and rc.xml."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

MENU_NS = "http://openbox.org/3.4/menu"


@dataclass(frozen=True)
class DesktopApp:
    """One entry of ``ARCADE_DESKTOP_APPS``."""

    name: str
    title: str
    group: str = ""
    version: str = ""
    reason: str = ""
    """Why it cannot be opened here (empty: it can); the menu shows it greyed, and choosing it
    says why (`arcade-launch`)."""

    @property
    def label(self) -> str:
        title = self.title
        if self.version and self.version not in title:
            title = f"{title} {self.version}"
        return f"{title} (unavailable)" if self.reason else title


def parse_apps(raw: object) -> list[DesktopApp]:
    """Validate the decoded JSON list of apps (``[{name, title, group, version}, ...]``)."""
    if not isinstance(raw, list):
        raise ValueError("desktop apps must be a JSON list")
    apps = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ValueError(f"desktop app #{i} needs a non-empty string 'name'")
        fields = {k: item.get(k) for k in ("title", "group", "version", "reason")}
        for key, value in fields.items():
            if value is not None and not isinstance(value, str | int | float):
                raise ValueError(f"desktop app {item['name']!r}: {key} must be a string")
        apps.append(
            DesktopApp(
                name=item["name"],
                title=str(fields["title"] or item["name"]),
                group=str(fields["group"] or ""),
                version=str(fields["version"] or ""),
                reason=str(fields["reason"] or "") if item.get("available") is False else "",
            )
        )
    return apps


def load_apps(path: Path | None) -> list[DesktopApp]:
    """Read the apps JSON file; a missing path gives an empty catalogue."""
    if path is None:
        return []
    return parse_apps(json.loads(path.read_text(encoding="utf-8")))


def _execute_item(parent: ET.Element, label: str, argv: Sequence[str]) -> None:
    item = ET.SubElement(parent, "item", label=label)
    action = ET.SubElement(item, "action", name="Execute")
    ET.SubElement(action, "command").text = shlex.join(argv)


def render_menu(
    apps: Sequence[DesktopApp],
    launch_command: Sequence[str],
    terminal_command: Sequence[str],
) -> str:
    """Return openbox ``menu.xml``: Terminal, then apps grouped into submenus by group.

    Each app runs ``launch_command + [app.name]`` (an unavailable one too: `arcade-launch` then
    says why); apps without a group sit at top level. The catalogue's entry for the desktop's
    own terminal is not listed twice.
    """
    root = ET.Element("openbox_menu", xmlns=MENU_NS)
    menu = ET.SubElement(root, "menu", id="root-menu", label="Arcade")
    _execute_item(menu, "Terminal", terminal_command)
    terminal = Path(terminal_command[0]).name if terminal_command else ""
    apps = [app for app in apps if app.name != terminal]
    if apps:
        ET.SubElement(menu, "separator")
    groups: dict[str, list[DesktopApp]] = {}
    for app in apps:
        groups.setdefault(app.group, []).append(app)
    for index, (group, members) in enumerate(groups.items()):
        parent = menu
        if group:
            parent = ET.SubElement(menu, "menu", id=f"arcade-group-{index}", label=group)
        for app in members:
            _execute_item(parent, app.label, [*launch_command, app.name])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_RC_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <resistance><strength>10</strength><screen_edge_strength>20</screen_edge_strength></resistance>
  <focus><focusNew>yes</focusNew><followMouse>no</followMouse></focus>
  <placement><policy>Smart</policy><center>yes</center></placement>
  <theme>
    <name>Clearlooks</name>
    <font place="MenuHeader"><name>DejaVu Sans</name><size>13</size><weight>bold</weight></font>
    <font place="MenuItem"><name>DejaVu Sans</name><size>13</size></font>
    <font place="ActiveWindow"><name>DejaVu Sans</name><size>11</size><weight>bold</weight></font>
    <font place="InactiveWindow"><name>DejaVu Sans</name><size>11</size></font>
    <titleLayout>NLIMC</titleLayout>
    <keepBorder>yes</keepBorder>
    <animateIconify>no</animateIconify>
  </theme>
  <desktops><number>1</number><firstdesk>1</firstdesk></desktops>
  <keyboard>
    <keybind key="A-F4"><action name="Close"/></keybind>
    <keybind key="A-Tab">
      <action name="NextWindow">
        <finalactions><action name="Focus"/><action name="Raise"/></finalactions>
      </action>
    </keybind>
  </keyboard>
  <mouse>
    <dragThreshold>1</dragThreshold>
    <doubleClickTime>500</doubleClickTime>
    <context name="Frame">
      <mousebind button="A-Left" action="Press">
        <action name="Focus"/><action name="Raise"/>
      </mousebind>
      <mousebind button="A-Left" action="Drag"><action name="Move"/></mousebind>
      <mousebind button="A-Right" action="Drag"><action name="Resize"/></mousebind>
    </context>
    <context name="Client">
      <mousebind button="Left" action="Press">
        <action name="Focus"/><action name="Raise"/>
      </mousebind>
    </context>
    <context name="Titlebar">
      <mousebind button="Left" action="Press">
        <action name="Focus"/><action name="Raise"/>
      </mousebind>
      <mousebind button="Left" action="Drag"><action name="Move"/></mousebind>
      <mousebind button="Left" action="DoubleClick"><action name="ToggleMaximize"/></mousebind>
    </context>
    <context name="Top"><mousebind button="Left" action="Drag">
      <action name="Resize"><edge>top</edge></action></mousebind></context>
    <context name="Left"><mousebind button="Left" action="Drag">
      <action name="Resize"><edge>left</edge></action></mousebind></context>
    <context name="Right"><mousebind button="Left" action="Drag">
      <action name="Resize"><edge>right</edge></action></mousebind></context>
    <context name="Bottom"><mousebind button="Left" action="Drag">
      <action name="Resize"><edge>bottom</edge></action></mousebind></context>
    <context name="TRCorner BRCorner TLCorner BLCorner">
      <mousebind button="Left" action="Drag"><action name="Resize"/></mousebind>
    </context>
    <context name="Close">
      <mousebind button="Left" action="Click"><action name="Close"/></mousebind>
    </context>
    <context name="Maximize">
      <mousebind button="Left" action="Click"><action name="ToggleMaximize"/></mousebind>
    </context>
    <context name="Iconify">
      <mousebind button="Left" action="Click"><action name="Iconify"/></mousebind>
    </context>
    <context name="Root">
      <mousebind button="Left" action="Press">
        <action name="ShowMenu"><menu>root-menu</menu></action>
      </mousebind>
      <mousebind button="Right" action="Press">
        <action name="ShowMenu"><menu>root-menu</menu></action>
      </mousebind>
      <mousebind button="Middle" action="Press">
        <action name="ShowMenu"><menu>client-list-combined-menu</menu></action>
      </mousebind>
    </context>
  </mouse>
  <applications>
    <!-- the hint where the menu is: part of the background, not a window to manage -->
    <application name="arcade-hint">
      <decor>no</decor><focus>no</focus><layer>below</layer>
      <skip_taskbar>yes</skip_taskbar><skip_pager>yes</skip_pager>
    </application>
  </applications>
  <menu>
    <file>{menu_file}</file>
    <hideDelay>200</hideDelay>
    <middle>no</middle>
    <submenuShowDelay>100</submenuShowDelay>
    <applicationIcons>no</applicationIcons>
  </menu>
</openbox_config>
"""


def render_rc(menu_file: Path) -> str:
    """Return openbox ``rc.xml`` using ``menu_file`` as its only menu."""
    return _RC_TEMPLATE.replace("{menu_file}", escape(str(menu_file)))


__all__ = ["DesktopApp", "load_apps", "parse_apps", "render_menu", "render_rc"]
