from django_q.models import Schedule

from config.schedules import ScheduleSpec

SCHEDULES = [
    # Runs whose worker died are marked interrupted and resumed.
    ScheduleSpec(
        name="syncs-resume-interrupted", func="syncs.tasks.runs_resume_interrupted",
        schedule_type=Schedule.MINUTES, minutes=5,
    ),
]
