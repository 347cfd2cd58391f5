// The webhook listener from the seed article (../../../../shared/seed/),
// unchanged but for its typographic quotes, which Node.js cannot parse.
const express = require('express');
const app = express();

app.use(express.json());

app.post('/webhook', (req, res) => {
  const event = req.body;

  // Handle the event
  if (event.type === 'payment_success') {
    console.log(`Payment of $${event.amount} received for ${event.customer}`);
  }

  res.status(200).send('Event received');
});

app.listen(3000, () => console.log('Webhook listener running on port 3000'));
