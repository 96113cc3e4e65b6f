"""The subscribe and manage forms (validation of the address itself is the services' job)."""

from django import forms

from incidents.models import Component
from subscriptions.models import Kind


class ComponentChoice(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Component) -> str:
        return f"{obj.group} · {obj.name}" if obj.group else obj.name


def _components() -> ComponentChoice:
    return ComponentChoice(
        queryset=Component.objects.order_by("position", "name"),
        required=False,
        help_text="Leave all unticked to hear about everything.",
    )


class SubscribeForm(forms.Form):
    kind = forms.ChoiceField(
        choices=Kind.choices, initial=Kind.EMAIL, widget=forms.RadioSelect, label="How should we tell you?"
    )
    email = forms.CharField(
        required=False,
        max_length=254,
        label="Email address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )
    url = forms.CharField(
        required=False,
        max_length=500,
        label="Webhook or Slack incoming-webhook URL",
        widget=forms.URLInput(attrs={"placeholder": "https://", "inputmode": "url"}),
    )
    contact_email = forms.CharField(
        required=False,
        max_length=254,
        label="Contact email (confirmation, and if the URL keeps failing)",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    components = _components()
    # Honeypot: hidden from people (CSS and aria-hidden), filled in by form-filling bots.
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"] = _components()

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == Kind.EMAIL and not data.get("email"):
            self.add_error("email", "Enter your email address.")
        if kind in (Kind.WEBHOOK, Kind.SLACK):
            if not data.get("url"):
                self.add_error("url", "Enter the URL to call.")
            if not data.get("contact_email"):
                self.add_error("contact_email", "Enter a contact email: it receives the confirmation link.")
        return data


class ManageForm(forms.Form):
    components = _components()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"] = _components()
