// Placeholder: the widget follows.
console.log('widget');
