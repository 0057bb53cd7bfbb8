// The short text every method's perplexity is measured on: four small stories in the simple
// style of TinyStories (written for this page), separated by blank lines, one document each.

export const EVAL_TEXT = `Once upon a time, there was a little dog named Max. Max liked to run in the park with his ball. One day, the ball went into the pond. Max was sad. A kind girl saw him and got the ball out with a long stick. Max wagged his tail and licked her hand. From that day on, they played together every day.

Tom had a red box. He did not know what was inside. His mom said, "You can open it after lunch." Tom ate his soup very fast. Then he opened the box. Inside was a small toy car. Tom smiled and said, "Thank you, Mom!" He drove the car all over the floor.

Lily wanted to help her dad in the garden. She put on her big hat and took a little shovel. Together they dug holes and put seeds in the ground. Every morning Lily gave the seeds some water. After many days, green leaves came up. Lily was very happy, and her dad was proud of her.

It was a cold night, and the sky was full of stars. Ben looked out of his window and saw the moon. "Good night, moon," he said. His cat jumped on the bed and curled up next to him. Ben hugged the cat, closed his eyes, and fell asleep with a smile.`;
