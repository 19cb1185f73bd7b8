import os
import sys

# tests import the reference and the golden cases as plain modules
sys.path.insert(0, os.path.dirname(__file__))
