"""Importers: read people, schedules, escalations and integrations from Opsgenie, PagerDuty
or Grafana OnCall through their REST APIs, and make them Tocsin's.

Each vendor module fetches (`fetch`) and maps (`mapped`) into the on-call file model plus a
list of integrations to create with the sender's own key; `plan` merges that into what the
database already has and applies it through `oncall.service.apply`, the file's single writer.
Whatever cannot be mapped is listed (`LeftOut`) with the reason and what to do instead.
"""
