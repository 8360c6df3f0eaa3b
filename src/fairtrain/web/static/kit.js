// Copy buttons of the signal kit page.
document.querySelectorAll("button.copy").forEach((b) => b.addEventListener("click", () => {
  const text = document.getElementById(b.dataset.target).textContent;
  if (navigator.clipboard) navigator.clipboard.writeText(text);
  b.textContent = "✓";
}));
