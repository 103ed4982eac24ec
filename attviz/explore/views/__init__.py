"""Views of the explorer: each reads an Explorer and renders one thing."""

from .heatmap import HeatmapView
from .overview import OverviewView
from .probabilities import ProbabilitiesView
from .sequence import SequenceView
from .series import SeriesView
from .table import InstanceTable

__all__ = ["HeatmapView", "OverviewView", "ProbabilitiesView", "SequenceView", "SeriesView",
           "InstanceTable"]
