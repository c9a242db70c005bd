"""Validation of the header's "Display" form (row density and how times are shown)."""

from __future__ import annotations

from django import forms

from connections.models import UserPreferences


class DisplayPreferencesForm(forms.Form):
    density = forms.ChoiceField(
        choices=UserPreferences.Density.choices,
        error_messages={
            "required": "Choose a row density: comfortable or compact.",
            "invalid_choice": "Choose a row density: comfortable or compact.",
        },
    )
    time_display = forms.ChoiceField(
        choices=UserPreferences.TimeDisplay.choices,
        error_messages={
            "required": "Choose how times are shown: relative or exact.",
            "invalid_choice": "Choose how times are shown: relative or exact.",
        },
    )
