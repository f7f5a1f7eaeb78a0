"""Start here: what the explorer is for, the two selection stories, where to look first."""

import streamlit as st

from laionet_app.frame import open_page
from laionet_app.headline import render_headline_panel

db = open_page(
    "What makes ImageNet look unlike LAION?",
    "An introduction to the question, the two ways of selecting a dataset, and the pages.",
)
st.markdown(
    """
ImageNet models lose accuracy on **LAIONet**, a dataset of LAION images whose captions
name an ImageNet class. The paper behind this explorer asks why, and answers with the
way each dataset was **selected**:

- **Selected by text (LAIONet).** A sample is kept when its caption is similar enough
  to the class's synset text. The image plays no part, so the images of a class are as
  varied as the pictures people caption with that word.
- **Selected by image (ImageNet).** Annotators looked at each candidate image and kept
  those that looked like the class. Selecting on the image makes the images of a class
  look alike: their **intra-class similarity** is higher.

Where to look first:

1. **Threshold explorer**: how the caption threshold trades classes covered against size.
2. **Selection lab**: the paper's argument as an experiment. Compare selection by text
   with selection by image at the same dataset size, and see which one raises
   intra-class similarity.
3. **Compare datasets**: LAIONet against ImageNet, class by class, with 95% intervals.
4. **Class browser**: one class's samples, why each one was kept or dropped, the 2-D grid
   of caption-to-synset by image-to-synset similarity, and caption search.

Every control that shapes a view is in the address bar: copy the URL to share the view.
"""
)
st.page_link("pages/selection_lab.py", label="Open the selection lab", icon="🧪")

render_headline_panel(db)  # the paper's headline numbers beside this database's
