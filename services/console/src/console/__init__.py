"""The bureau's web console (管理控制台): pages for investment staff (招商),
approval officers (workbench), an enterprise's whole record, and the public
(receipt verification, the quota register). Server-rendered with Jinja2,
htmx for interaction, Chart.js for charts, every asset served locally. It
reads and writes only through the services' REST APIs, with the signed-in
user's bearer token; it has no database of its own."""
