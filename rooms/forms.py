from django import forms

from chatproject.errors import FieldErrors


class RoomCreateForm(forms.Form):
    # Shapes only; rules (names, lengths) live in rooms.services.room_create.
    name = forms.CharField(max_length=80)
    topic = forms.CharField(max_length=250, required=False)
    kind = forms.ChoiceField(
        choices=[("public", "Public: anyone can find and join it"), ("private", "Private: members are added")],
        widget=forms.RadioSelect,
        initial="public",
    )

    def add_service_errors(self, exc: FieldErrors) -> None:
        for field, messages in exc.fields.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
